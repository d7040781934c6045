"""A full output disk (ENOSPC) in the middle of a batch: the item fails with none of its outputs
left, the batch stops with one message, and a rerun finishes the work.

The disk is simulated by making `coretf.io.write_image` fail for one item's files (ProcessPool
workers fork, so they inherit the failure)."""

import errno
import os

import numpy as np
import pytest

from coretf import io as coretf_io
from coretf import outputs
from coretf.preprocess import background, grains_batch, ice_batch
from coretf.preprocess import core_crop_batch as crop_batch
from coretf.synthetic import cores, ice
from coretf.synthetic import grains as synthetic_grains


@pytest.fixture
def full_disk_at(monkeypatch):
    """`full_disk_at("S0001")`: writing any image whose path holds that text raises ENOSPC."""
    real = coretf_io.write_image

    def arm(text):
        def write_image(path, image):
            if text in os.fspath(path):
                real(path, image)  # written, then the error: the item must remove it
                raise OSError(errno.ENOSPC, "No space left on device", os.fspath(path))
            return real(path, image)
        monkeypatch.setattr(coretf_io, "write_image", write_image)
        return lambda: monkeypatch.setattr(coretf_io, "write_image", real)  # the disk freed

    return arm


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_core_crop_stops_at_a_full_disk_and_the_rerun_finishes(tmp_path, full_disk_at):
    sections = tmp_path / "in"
    for index in range(3):
        coretf_io.write_image(sections / f"S{index:04d}.png",
                              cores.make_section(index, seed=2, length_cm=20.0, px_per_cm=20.0).image)
    files = sorted(str(p) for p in sections.iterdir())
    out = tmp_path / "out"
    free = full_disk_at("S0001")
    rows = crop_batch.run_batch(files, str(out), background.CropParams(), crop_batch.SectionMeta(),
                                workers=1, progress=False)
    assert rows[1]["status"] == "error"
    assert rows[1]["message"] == outputs.stopped(files[1], str(out))
    assert rows[0]["status"] != "error" and (out / "S0000.png").exists()
    written = _files(out)
    assert not [f for f in written if "S0001" in f], written  # not the crop, not its review strip
    assert not [f for f in written if outputs.TEMPORARY.match(os.path.basename(f))], written
    assert "crops.csv" not in written  # the tables wait for the rerun
    free()
    rows = crop_batch.run_batch(files, str(out), background.CropParams(), crop_batch.SectionMeta(),
                                workers=1, progress=False)
    assert [r["status"] != "error" for r in rows] == [True] * 3 and (out / "crops.csv").exists()


def test_grains_stop_at_a_full_disk_with_none_of_the_sets_files_left(tmp_path, full_disk_at):
    lab = tmp_path / "lab"
    for index in range(2):
        made = synthetic_grains.make_photo_set(index, height=128, width=160, num_particles=(3, 4))
        for layer, image in enumerate(made.layers):
            coretf_io.write_image(lab / "S1" / f"P{index}" / f"f{layer}.png", image)
    out = tmp_path / "out"
    free = full_disk_at(os.path.join("overlays", "S1", "P1"))  # after P1's crops were written
    rows, errors = grains_batch.process_folder(str(lab), str(out), crop_size=32, workers=1, progress=False)
    assert rows == [] and errors == [outputs.stopped(str(lab), str(out))]
    written = _files(out)
    assert "boxes/S1/P0.csv" in written and any(f.startswith("crops/S1/P0_") for f in written)
    assert not [f for f in written if "P1" in f], written
    assert "particles.csv" not in written
    free()
    rows, errors = grains_batch.process_folder(str(lab), str(out), crop_size=32, workers=1, progress=False)
    assert not errors and {r["position"] for r in rows} == {"P0", "P1"}


def test_ice_labels_stop_at_a_full_disk_and_the_rerun_finishes(tmp_path, full_disk_at):
    specimen = ice.make_specimen(1, size=96, slices=4)
    stack = tmp_path / "stack"
    for z in range(3):
        coretf_io.write_image(stack / f"s{z}.png", specimen.high_slice(z))
    out = tmp_path / "out"
    free = full_disk_at(os.path.join("gmm", "s1"))  # its image and fov PNGs already written
    count, done, bad = ice_batch.write_slice_labels(str(stack), str(out), workers=1, progress=False)
    assert (count, done) == (1, 0) and bad == [outputs.stopped(str(stack / "s1.png"), str(out))]
    written = _files(out)
    assert "slices/s0.json" in written and not [f for f in written if "s1" in f or "s2" in f], written
    free()
    count, done, bad = ice_batch.write_slice_labels(str(stack), str(out), workers=1, progress=False)
    assert (count, done, bad) == (2, 1, [])
    assert len(coretf_io.read_csv(out / "thresholds.csv")) == 3


def test_one_item_leaves_nothing_of_a_failed_item(tmp_path):
    paths = [str(tmp_path / "a.png"), str(tmp_path / "a.json")]
    with pytest.raises(ValueError, match="a check after writing"):
        with outputs.one_item(paths):
            coretf_io.write_image(paths[0], np.zeros((4, 4), np.uint8))
            raise ValueError("a check after writing")
    assert os.listdir(tmp_path) == []
    with outputs.one_item(paths):
        coretf_io.write_image(paths[0], np.zeros((4, 4), np.uint8))
        coretf_io.write_json(paths[1], {})
    assert sorted(os.listdir(tmp_path)) == ["a.json", "a.png"]
