"""Tests of background removal (coretf.preprocess.background): synthetic sections with a known core
box, the failure checks, the batch command, and the real photographs in ../shared/realdata."""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from coretf import io as coretf_io
from coretf.preprocess import background as cc
from coretf.preprocess import core_crop_batch as batch
from coretf.synthetic import cores

REALDATA = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"
if not REALDATA.is_dir():  # worktrees sit beside the shared folder as well
    REALDATA = pathlib.Path("/work/shared/realdata")
ITRAX = REALDATA / "itraxR_CD166_19_S1"
COLUMNS = REALDATA / "corebreakout_bgs_columns"
needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent")

P = 20.0  # px/cm of the synthetic sections


@pytest.fixture(scope="module")
def section():
    return cores.make_section(3, seed=0, length_cm=30.0, px_per_cm=P)


def test_synthetic_crop_matches_true_core_box(section):
    result = cc.find_core_box(section.image)
    x0, y0, x1, y1 = result.box
    tx0, ty0, tx1, ty1 = section.core_box
    assert result.depth_axis == "x"
    assert abs(x0 - tx0) <= 2 and abs(x1 - tx1) <= 2  # depth exact to 0.1 cm at 20 px/cm
    assert ty0 <= y0 < y1 <= ty1  # nothing of the tray or liner across the core
    assert (y1 - y0) >= 0.6 * (ty1 - ty0)  # 10 % a side taken, not much more
    check = cc.check_crop(section.image, result, px_per_cm=P, expected_lengths_cm=(30.0,))
    assert check.status == "ok" and check.length_cm == pytest.approx(30.0, abs=0.15)
    assert check.card_fraction < 0.05


def test_paper_method_keeps_the_paper_net_dilation(section):
    # erode 3 x 2 px, dilate 7 x 2 px: the paper's box is 8 px longer at each end.
    result = cc.find_core_box(section.image, cc.CropParams(method="paper"))
    assert result.box[0] == section.core_box[0] - 8 and result.box[2] == section.core_box[2] + 8


def test_robust_method_bridges_a_crack_that_splits_the_paper_crop(section):
    image = section.image.copy()
    x0, y0, x1, y1 = section.core_box
    mid = (x0 + x1) // 2
    image[y0:y1, mid - 20:mid + 20] = 25  # a 2 cm open crack, as dark as the tray, across the core
    paper = cc.find_core_box(image, cc.CropParams(method="paper"))
    robust = cc.find_core_box(image)
    paper_check = cc.check_crop(image, paper, px_per_cm=P, expected_lengths_cm=(30.0,))
    assert paper_check.status == "overcropped" and paper_check.length_cm < 16
    assert abs(robust.box[0] - x0) <= 2 and abs(robust.box[2] - x1) <= 2
    # A gap longer than max_gap_widths core widths ends the core.
    short = cc.find_core_box(image, cc.CropParams(max_gap_widths=0.2))
    assert short.box[2] - short.box[0] < (x1 - x0) * 0.55


def test_depth_axis_y_is_a_transpose(section):
    flipped = np.ascontiguousarray(section.image.transpose(1, 0, 2))
    along_x = cc.find_core_box(section.image)
    for axis in ("y", "auto"):
        along_y = cc.find_core_box(flipped, cc.CropParams(depth_axis=axis))
        assert along_y.depth_axis == "y"
        x0, y0, x1, y1 = along_x.box
        assert along_y.box == (y0, x0, y1, x1)


def test_checks_flag_card_and_lengths(section):
    x0, y0, x1, y1 = section.core_box
    with_card = cc.CropResult((section.card_box[0] + 5, y0, x1, y1), "x", (30.0, 60.0), None)
    check = cc.check_crop(section.image, with_card, px_per_cm=P, expected_lengths_cm=(30.0,))
    assert check.status == "card" and check.card_fraction >= 0.2
    for end, lengths, status in ((x1 - 40, (30.0,), "overcropped"),  # 28.0 cm < 28.5
                                 (x1 - 20, (30.0,), "ok"),           # 29.0 cm
                                 (x1, (25.0, 40.0), "undercropped"),  # 30 cm > 25 + 5 %
                                 (x1, (), "unchecked")):
        result = cc.CropResult((x0, y0, end, y1), "x", (30.0, 60.0), None)
        assert cc.check_crop(section.image, result, px_per_cm=P,
                             expected_lengths_cm=lengths).status == status
    unscaled = cc.check_crop(section.image, cc.CropResult((x0, y0, x1, y1), "x", (), None))
    assert unscaled.status == "unchecked" and unscaled.length_px == x1 - x0
    blank = np.zeros((60, 300, 3), np.uint8)
    blank[:, :100] = 200
    blank[:, 100:] = 90
    blank[::2, ::2] = 10
    none = cc.find_core_box(blank, cc.CropParams(method="seeded", core_classes=(0,),
                                                 erode_iterations=5))
    assert none.box is None and cc.check_crop(blank, none).status == "no_core"
    noise = np.random.default_rng(0).integers(0, 256, (80, 240, 3), dtype=np.uint8)
    none = cc.find_core_box(noise)  # robust: speckle is no long rectangle
    assert none.box is None and cc.check_crop(noise, none).status == "no_core"


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "otsu"}, "method"), ({"depth_axis": "z"}, "depth_axis"),
    ({"core_classes": (3,)}, "core_classes"), ({"cross_crop": 1.0}, "cross_crop"),
    ({"card_fraction": 0.0}, "card_fraction"), ({"erode_kernel": 0}, "kernel"),
])
def test_bad_params(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cc.CropParams(**kwargs)


def test_grayscale_image_is_rejected():
    with pytest.raises(ValueError, match="RGB"):
        cc.find_core_box(np.zeros((40, 80), np.uint8))


def _itrax_scale_and_length():
    """mm per pixel of the optical image and the core length (mm) from the scan metadata."""
    rad = (ITRAX / "CD166_19_S1_rad_document.txt").read_text(errors="replace")
    start, stop = map(float, re.search(r"Start coordinate\s+([\d.]+)\s+Stop coordinate\s+([\d.]+)",
                                       rad).groups())
    o0, o1 = map(float, re.search(r"Optical Start\s+([\d.]+)\s+Optical End\s+([\d.]+)", rad).groups())
    width = coretf_io.read_image(ITRAX / "CD166_19_S1_optical_lowres.tif").shape[1]
    return (o1 - o0) / width, stop - start


@needs_realdata
def test_itrax_crop_excludes_card_and_keeps_the_core():
    image = coretf_io.read_image(ITRAX / "CD166_19_S1_optical_lowres.tif")
    mm_per_px, length_mm = _itrax_scale_and_length()
    assert mm_per_px == pytest.approx(0.7296, abs=1e-3) and length_mm == pytest.approx(1314.1)
    core_px = length_mm / mm_per_px  # ~1801 px
    px_per_cm = 10 / mm_per_px
    robust = cc.find_core_box(image)
    x0, y0, x1, y1 = robust.box
    # The colour card and its frame end at x ~ 108 (dark frame, then the core from ~112).
    card_share = cc.check_crop(image, cc.CropResult((0, y0, x1, y1), "x", (), None)).card_fraction
    assert card_share >= 0.2  # the check would see the card if it were kept
    assert x0 >= 108 and x1 <= image.shape[1]
    assert x1 - x0 >= 0.95 * core_px
    check = cc.check_crop(image, robust, px_per_cm=px_per_cm, expected_lengths_cm=(length_mm / 10,))
    assert check.status == "ok" and check.card_fraction < 0.2
    # The paper's method as written keeps only the first light interval of this core.
    paper = cc.find_core_box(image, cc.CropParams(method="paper"))
    paper_check = cc.check_crop(image, paper, px_per_cm=px_per_cm,
                                expected_lengths_cm=(length_mm / 10,))
    assert paper_check.status == "overcropped" and paper_check.length_px < 0.3 * core_px


def _read_csv(path):
    return {row["file"]: row for row in coretf_io.read_csv(path)}


@needs_realdata
def test_command_on_columns_with_a_bad_file(tmp_path):
    """The corebreakout columns (no card, no length) crop and get a status; a truncated file is
    reported by name and the batch carries on; a rerun skips what is done. column1 takes the
    defaults (robust, depth axis auto); the sections table gives column3 the seeded method with
    the lighter classes (`core_classes` 1 2: a light sandstone, no bright liner)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("column1.jpeg", "column3.jpeg"):
        shutil.copy(COLUMNS / name, inputs / name)
    (inputs / "broken.jpg").write_bytes((COLUMNS / "column2.jpeg").read_bytes()[:4000])
    (inputs / "sections.csv").write_text("file,depth_axis,method,core_classes\n"
                                         "column3.jpeg,y,seeded,1 2\n")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "coretf.preprocess.core_crop", f"--input={inputs}",
         f"--output={out}", "--depth_axis=auto", f"--sections={inputs / 'sections.csv'}"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]  # one file failed, the others done
    assert "broken.jpg: cannot be decoded" in result.stdout
    rows = _read_csv(out / "crops.csv")
    assert set(rows) == {"broken.jpg", "column1.jpeg", "column3.jpeg"}
    assert rows["broken.jpg"]["status"] == "error" and not (out / "broken.png").exists()
    assert rows["column1.jpeg"]["method"] == "robust" and rows["column3.jpeg"]["method"] == "seeded"
    for name in ("column1.jpeg", "column3.jpeg"):
        row = rows[name]
        assert row["status"] == "unchecked" and row["depth_axis"] == "y"
        x0, y0, x1, y1 = (int(row[k]) for k in ("x0", "y0", "x1", "y1"))
        height, width = coretf_io.read_image(COLUMNS / name).shape[:2]
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert int(row["length_px"]) == y1 - y0 > 0.95 * height  # the column is core end to end
        assert 0.05 * width < x0 and x1 < 0.95 * width and x1 - x0 > 0.6 * width  # no tray edge
        crop = coretf_io.read_image(out / row["output"])
        assert crop.shape == (y1 - y0, x1 - x0, 3)
    # Review files live in review/, so the next step reads the crops only.
    sheet = coretf_io.read_image(out / "review" / "flagged.png")  # unchecked: flagged
    assert sheet.ndim == 3 and sheet.shape[0] >= 2 * 90
    assert sorted(os.listdir(out)) == ["column1.png", "column3.png", "crops.csv", "review"]
    assert {os.path.basename(f) for f in coretf_io.list_images(str(out))} == {
        "column1.png", "column3.png"}
    assert {"column1_review.png", "column1_crop.json", "flagged.png"} <= set(os.listdir(out / "review"))
    stamp = os.path.getmtime(out / "column1.png")
    metas = batch.read_sections_csv(str(inputs / "sections.csv"), batch.SectionMeta())
    again = batch.run_batch(coretf_io.list_images(str(inputs)), str(out),
                            cc.CropParams(depth_axis="auto"), batch.SectionMeta(), metas,
                            workers=1, progress=False)
    assert os.path.getmtime(out / "column1.png") == stamp
    assert [r["status"] for r in again] == ["error", "unchecked", "unchecked"]
    # The input folder as --output would overwrite the photographs: refused before any work.
    same = subprocess.run(
        [sys.executable, "-m", "coretf.preprocess.core_crop", f"--input={inputs}",
         f"--output={inputs}/."], capture_output=True, text=True, timeout=120)
    assert same.returncode == 2 and "is the input folder" in same.stderr
    assert sorted(os.listdir(inputs)) == ["broken.jpg", "column1.jpeg", "column3.jpeg", "sections.csv"]


def test_an_image_declaring_too_many_pixels_is_reported_and_the_batch_goes_on(tmp_path):
    """--max_pixels is checked against each header before decoding: the oversized file is
    named with its declared size, the others are cropped, and the exit code says one failed."""
    folder = tmp_path / "in"
    small = cores.make_section(0, seed=1, length_cm=25.0, px_per_cm=P)
    coretf_io.write_image(folder / "S0000.png", small.image)
    big = cores.make_section(1, seed=1, length_cm=60.0, px_per_cm=P)
    coretf_io.write_image(folder / "S0001.png", big.image)
    height, width = big.image.shape[:2]
    limit = (height * width + small.image.shape[0] * small.image.shape[1]) // 2
    result = subprocess.run(
        [sys.executable, "-m", "coretf.preprocess.core_crop", f"--input={folder}",
         f"--output={tmp_path / 'out'}", f"--max_pixels={limit}", "--workers=1"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"S0001.png: declares {width} x {height} px" in result.stdout
    assert f"--max_pixels={limit}" in result.stdout
    assert (tmp_path / "out" / "S0000.png").exists() and not (tmp_path / "out" / "S0001.png").exists()


def test_batch_on_synthetic_sections_with_scale(tmp_path):
    folder = tmp_path / "in"
    made = [cores.make_section(index, seed=1, length_cm=25.0, px_per_cm=P) for index in range(2)]
    coretf_io.write_image(folder / "S0000.png", made[0].image)
    # 16-bit RGBA (a GIMP label in alpha): the crop is found on the RGB and stays 16-bit.
    rgba16 = np.concatenate([made[1].image, made[1].mask[..., None] * 255], -1).astype(np.uint16) * 257
    coretf_io.write_image(folder / "S0001.tif", rgba16)
    coretf_io.write_image(folder / "grey.png", np.full((50, 80), 128, np.uint8))
    rows = batch.run_batch(coretf_io.list_images(str(folder)), str(tmp_path / "out"), cc.CropParams(),
                        batch.SectionMeta(px_per_cm=P, expected_lengths_cm=(25.0,)), workers=1,
                        progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    assert "grey.png: expected an RGB" in rows[2]["message"]
    assert float(rows[0]["length_cm"]) == pytest.approx(25.0, abs=0.15)
    assert [int(rows[0][k]) for k in ("x0", "x1")] == [int(rows[1][k]) for k in ("x0", "x1")]
    crop16 = coretf_io.read_image(tmp_path / "out" / rows[1]["output"])
    x0, y0, x1, y1 = (int(rows[1][k]) for k in ("x0", "y0", "x1", "y1"))
    assert crop16.dtype == np.uint16 and crop16.shape == (y1 - y0, x1 - x0, 3)
    np.testing.assert_array_equal(crop16, rgba16[y0:y1, x0:x1, :3])
    assert not (tmp_path / "out" / "review" / "flagged.png").exists()
    assert not (tmp_path / "out" / "flagged.png").exists()
    with pytest.raises(ValueError, match="holds no images"):
        coretf_io.list_images(str(tmp_path / "out" / ".."))


def test_truth_status_golden():
    true = (100, 20, 700, 80)
    assert cc.truth_status((98, 25, 703, 75), true, 4) == "ok"
    assert cc.truth_status((110, 25, 700, 75), true, 4) == "overcropped"
    assert cc.truth_status((90, 25, 800, 75), true, 4) == "undercropped"
    assert cc.truth_status((100, 19, 700, 75), true, 4) == "undercropped"  # a tray row kept
    assert cc.truth_status((90, 25, 600, 75), true, 4) == "overcropped"  # losing core wins
    assert cc.truth_status(None, true, 4) == "overcropped"


@pytest.mark.parametrize("text, message", [
    ("name,px_per_cm\na.png,20\n", "needs a 'file' column"),
    ("file,px_per_cm\na.png,abc\n", "line 2"),
    ("file,px_per_cm\na.png,20\nb.png,-1\n", "line 3: need px_per_cm > 0"),
    ("file,depth_axis\na.png,z\n", "line 2: .*depth_axis"),
    ("file,expected_length_cm\na.png,inf\n", "line 2: need expected_length_cm to be finite"),
    ("file,px_per_cm\na.png,20\na.png,30\n", "line 3: file 'a.png' listed twice"),
    ("file,px_per_cm\n", "lists no files"),
    ("file,core_classes\na.png,1 x\n", "line 2: .*core_classes"),
    ("file,num_classes,core_classes\na.png,3,1\nb.png,3,3\n", "line 3: core_classes"),
    ("file,method\na.png,otsu\n", "line 2: .*method"),
])
def test_bad_sections_csv_names_the_line(tmp_path, text, message):
    (tmp_path / "sections.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        batch.read_sections_csv(str(tmp_path / "sections.csv"), batch.SectionMeta())


def test_sections_csv_overrides_defaults(tmp_path):
    (tmp_path / "sections.csv").write_text(
        "file,px_per_cm,expected_length_cm,depth_axis\na.tif,13.7,131.41,x\nb.png,,,\n")
    metas = batch.read_sections_csv(str(tmp_path / "sections.csv"), batch.SectionMeta(px_per_cm=40))
    assert metas["a"] == batch.SectionMeta(13.7, (131.41,), "x")
    assert metas["b"] == batch.SectionMeta(40.0, (120.0, 150.0), None)


def test_sections_csv_may_be_the_labs_sections_table(tmp_path):
    """The manual builder's sections.csv (rows named by `section`, the photograph's stem) gives
    core_crop its scale and depth axis, so one table serves core_crop, predict and colour_record."""
    (tmp_path / "sections.csv").write_text("section,px_per_cm,top_depth_cm,depth_axis\n"
                                           "A-01,197,0,x\nA-02,40,150,y\n")
    metas = batch.read_sections_csv(str(tmp_path), batch.SectionMeta(px_per_cm=10))
    assert metas["A-01"].px_per_cm == 197 and metas["A-01"].depth_axis == "x"
    assert metas["A-02"].px_per_cm == 40 and metas["A-02"].depth_axis == "y"


def test_sections_csv_sets_crop_parameters_per_file(tmp_path):
    (tmp_path / "sections.csv").write_text(
        "file,method,num_classes,core_classes,depth_axis,cross_crop\n"
        "a.tif,paper,4,\"1,2\",y,0.2\nb.png,,,0;1,,\nc.png,,,,,\n")
    metas = batch.read_sections_csv(str(tmp_path / "sections.csv"), batch.SectionMeta())
    flags = cc.CropParams(depth_axis="auto")
    a = metas["a"].crop_params(flags)
    assert (a.method, a.num_classes, a.core_classes, a.depth_axis, a.cross_crop) == (
        "paper", 4, (1, 2), "y", 0.2)
    b = metas["b"].crop_params(flags)
    assert (b.method, b.core_classes, b.depth_axis) == ("robust", (0, 1), "auto")
    assert metas["c"].crop_params(flags) == flags


def test_seeded_method_pins_the_builders_cropped_configs():
    """`*_cropped` builder configs crop with method="seeded": its boxes on the builder's
    sections are those the configs were released with (their data stay bit-identical)."""
    for index in range(2):
        section = cores.make_section(index, seed=0, length_cm=40.0, px_per_cm=P)
        result = cc.find_core_box(section.image, cc.CropParams(method="seeded", depth_axis="x"))
        assert result.box == (144, 54, 944, 177) and result.seed_box == (144, 54, 944, 177)


def test_an_error_nobody_foresaw_fails_its_file_only(tmp_path, monkeypatch):
    """Any exception from one section (here a ZeroDivisionError inside the crop) is that file's
    row, named with its type; the batch's other files are cropped."""
    folder = tmp_path / "in"
    for index in range(2):
        coretf_io.write_image(folder / f"S{index:04d}.png",
                              cores.make_section(index, seed=1, length_cm=25.0, px_per_cm=P).image)
    real = cc.find_core_box

    def flaky(image, params, **options):
        if flaky.calls == 0:
            flaky.calls += 1
            raise ZeroDivisionError("division by zero")
        return real(image, params, **options)

    flaky.calls = 0
    monkeypatch.setattr(cc, "find_core_box", flaky)
    rows = [batch.crop_file(str(folder / f"S{i:04d}.png"), str(tmp_path / "out"), cc.CropParams(),
                            batch.SectionMeta()) for i in range(2)]
    assert rows[0]["status"] == "error"
    assert rows[0]["message"] == f"{folder / 'S0000.png'}: ZeroDivisionError: division by zero"
    assert rows[1]["status"] != "error" and (tmp_path / "out" / "S0001.png").exists()
