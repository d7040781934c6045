"""The atomic writers of coretf.io: nothing partial under a final name, usual permissions."""

import os
import pathlib
import stat

import numpy as np
import tifffile
import pytest

import coretf
from coretf import io as coretf_io


def test_write_csv_takes_sequences_and_mappings(tmp_path):
    path = tmp_path / "out" / "table.csv"
    coretf_io.write_csv(path, ["a", "b"], [[1, 2], {"b": 4}, {"a": 5, "b": 6}])
    comment, *lines = path.read_text().splitlines()
    assert lines == ["a,b", "1,2", ",4", "5,6"]
    # What made it: one comment line, which the readers skip (pandas: comment="#").
    assert comment.startswith(f"# coretf {coretf.__version__}") and "TensorFlow" in comment
    assert coretf_io.read_csv(path) == [{"a": "1", "b": "2"}, {"a": "", "b": "4"}, {"a": "5", "b": "6"}]
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "table.csv"
    coretf_io.write_text(path, "old\n")

    def rows():
        yield [1, 2]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        coretf_io.write_csv(path, ["a", "b"], rows())
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_atomic_dir_replaces_a_folder_only_on_success(tmp_path):
    target = tmp_path / "export"
    with coretf_io.atomic_dir(target) as tmp:
        (open(os.path.join(tmp, "model.pb"), "w")).close()
    assert sorted(p.name for p in target.iterdir()) == ["model.pb"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~umask  # readable by others, not 0700
    with pytest.raises(ValueError):
        with coretf_io.atomic_dir(target) as tmp:
            (open(os.path.join(tmp, "half.pb"), "w")).close()
            raise ValueError("export failed")
    assert sorted(p.name for p in target.iterdir()) == ["model.pb"]  # the old export stays
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no temporary folder left


def test_to_grey_reads_palette_like_and_colour_images_with_a_note(caplog):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert coretf_io.to_grey(grey, "g.png") is grey
    with caplog.at_level("WARNING", logger="coretf"):
        same = coretf_io.to_grey(np.repeat(grey[..., None], 3, -1), "palette.png")
    np.testing.assert_array_equal(same, grey)
    assert "palette.png: read as grey" in caplog.text
    colour = np.zeros((2, 2, 4), np.uint8)
    colour[..., 0] = 255  # pure red
    with caplog.at_level("WARNING", logger="coretf"):
        assert coretf_io.to_grey(colour, "red.png")[0, 0] == 76  # 0.299 * 255
    assert "red.png: a colour image where a grey one is expected" in caplog.text
    with pytest.raises(coretf_io.ImageError, match="bad.png: expected a grey or RGB image"):
        coretf_io.to_grey(np.zeros((2, 2, 2), np.uint8), "bad.png")


def test_folders_list_photographs_not_masks(tmp_path):
    for name in ("A.png", "A_mask.png", "B.tif", "B_label.tif", ".hidden.png", "notes.txt", "C_overlay.png"):
        (tmp_path / name).write_bytes(b"")
    assert [os.path.basename(p) for p in coretf_io.list_images(str(tmp_path))] == ["A.png", "B.tif", "C_overlay.png"]
    assert [os.path.basename(p) for p in coretf_io.list_images(str(tmp_path), exclude_stems=("_overlay",))] == [
        "A.png", "B.tif"]


def _claiming(path, data: bytes, width: int, height: int) -> None:
    """Writes `data` (a small PNG, JPEG or TIFF) to `path` with its header's size patched."""
    import struct

    data = bytearray(data)
    suffix = os.path.splitext(str(path))[1]
    if suffix == ".png":
        data[16:24] = struct.pack(">II", width, height)
    elif suffix == ".jpg":
        i = data.index(b"\xff\xc0")
        data[i + 5:i + 9] = struct.pack(">HH", height, width)
    else:
        path.write_bytes(bytes(data))
        with tifffile.TiffFile(path) as tiff:
            offsets = [tiff.pages[0].tags[n].valueoffset for n in ("ImageWidth", "ImageLength")]
        for offset, value in zip(offsets, (width, height)):
            data[offset:offset + 4] = struct.pack("<I", value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", "_tiled.tif"])
def test_an_image_declaring_too_many_pixels_is_refused_before_decoding(tmp_path, suffix):
    """A header claiming 100,000 x 100,000 px (10 Gpx; JPEG's limit is 65,535 a side) is refused
    by every reader with the file, its declared size and the flag, before any pixel is decoded."""
    import cv2

    from coretf import image_source

    small = np.zeros((64, 64, 3), np.uint8)
    side = 60000 if suffix == ".jpg" else 100000
    if suffix.endswith(".tif"):
        source = tmp_path / "source.tif"
        tifffile.imwrite(source, small, tile=(32, 32) if "tiled" in suffix else None)
        data = source.read_bytes()
    else:
        data = cv2.imencode(suffix, small)[1].tobytes()
    path = tmp_path / f"claim{suffix}"
    _claiming(path, data, side, side)
    pattern = f"claim{suffix}: declares {side} x {side} px .* more than --max_pixels=1000000000"
    with pytest.raises(coretf_io.ImageError, match=pattern):
        coretf_io.read_image(path)
    with pytest.raises(coretf_io.ImageError, match=pattern):
        image_source.open_image(path)
    with pytest.raises(coretf_io.ImageError, match=pattern):
        coretf_io.decode_image(path.read_bytes(), path.name)


def test_the_limit_is_the_environments(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    coretf_io.write_image(path, np.zeros((40, 50), np.uint8))
    assert coretf_io.read_image(path).shape == (40, 50)
    monkeypatch.setenv(coretf_io.MAX_PIXELS_ENV, "1999")
    with pytest.raises(coretf_io.ImageError, match=r"a.png: declares 50 x 40 px .*--max_pixels=1999"):
        coretf_io.read_image(path)


def test_output_folders_are_checked_before_any_work(tmp_path):
    from coretf import outputs

    inputs = tmp_path / "in"
    coretf_io.write_image(inputs / "a.png", np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(ValueError, match="--output=.* is the input folder"):
        outputs.prepare(str(inputs), str(inputs))
    with pytest.raises(ValueError, match="is inside the input folder"):
        outputs.prepare(str(inputs / "out"), str(inputs), recursive=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="--output=.*file/out: cannot be created"):
        outputs.prepare(str(tmp_path / "file" / "out"), str(inputs))


def test_an_unwritable_output_folder_is_one_line(tmp_path, monkeypatch):
    """(As the write probe sees a read-only folder; root, as in CI, may write anywhere.)"""
    import tempfile

    from coretf import outputs

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(ValueError, match=r"--output=.*locked: cannot be written to \(Permission denied\)"):
        outputs.prepare(str(tmp_path / "locked"), str(tmp_path / "in"))


def test_free_space_is_checked_against_the_first_items_outputs(tmp_path):
    from coretf import outputs

    image = tmp_path / "in" / "a.png"
    coretf_io.write_image(image, np.zeros((40, 50, 3), np.uint8))
    outputs.prepare(str(tmp_path / "out"), str(image.parent), first_image=str(image))
    with pytest.raises(ValueError, match=r"MB free, the first item \(a.png\) alone needs"):
        outputs.prepare(str(tmp_path / "out"), str(image.parent), first_image=str(image),
                        bytes_per_pixel=1e12)


def test_a_killed_runs_temporary_files_are_removed_by_the_rerun(tmp_path):
    """What atomic_path / atomic_dir leave after kill -9 is recognised and removed; nothing else."""
    from coretf import outputs

    out = tmp_path / "out"
    with coretf_io.atomic_path(out / "review" / "sec2_crop.png") as tmp:
        left_file = pathlib.Path(tmp).name  # the name a kill -9 before the rename leaves
        pathlib.Path(tmp).write_bytes(b"done")
    with coretf_io.atomic_dir(out / "export") as tmp:
        left_dir = pathlib.Path(tmp).name
    (out / "review" / left_file).write_bytes(b"half")
    (out / left_dir).mkdir()
    (out / left_dir / "saved_model.pb").write_bytes(b"half")
    (out / ".hidden_by_the_lab").write_bytes(b"")
    assert outputs.prepare(str(out)) == 2
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        ".hidden_by_the_lab", "export", "review", "review/sec2_crop.png"]


def test_a_full_disk_fails_the_item_cleanly(tmp_path, monkeypatch):
    """ENOSPC while writing: the temporary file is removed, nothing under the final name, and
    the error is recognised as a full disk (the batch commands stop on it)."""
    import errno as errno_lib

    def full(*args, **kwargs):
        raise OSError(errno_lib.ENOSPC, "No space left on device")

    monkeypatch.setattr(coretf_io.json, "dump", full)
    with pytest.raises(OSError) as caught:
        coretf_io.write_json(tmp_path / "out" / "s.json", {"a": 1})
    from coretf import outputs

    assert outputs.disk_full(caught.value) and not outputs.disk_full(ValueError("x"))
    assert os.listdir(tmp_path / "out") == []
