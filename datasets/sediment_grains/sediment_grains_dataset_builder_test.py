"""sediment_grains builder tests: both configs through TFDS's test case, then bad manual folders."""

import collections
import dataclasses
import json
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from coretf import io as coretf_io
from coretf.preprocess import grain_extraction as extraction
from coretf.preprocess import grain_photos
from coretf_datasets.sediment_grains import sediment_grains_dataset_builder as sgb

DUMMY = pathlib.Path(__file__).parent / "dummy_data"


class SedimentGrainsManualTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = sgb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["manual"]
    SKIP_CHECKSUMS = True
    # dummy_data: A/P0000, A/P0001 (position folders), B/P0002 (PNG), B/P0003 (16-bit TIFF);
    # with seed 0: train A/P0001 (3 particles) + B/P0003 (4), validation A/P0000 (3), test B/P0002 (4).
    SPLITS = {"train": 7, "validation": 3, "test": 4}


class SedimentGrainsSyntheticTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = sgb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["synthetic_tiny"]
    SKIP_CHECKSUMS = True
    SPLITS = {"train": 16, "validation": 4, "test": 3}  # six positions: 4 / 1 / 1


def test_synthetic_examples_carry_true_types(tmp_path):
    builder = sgb.Builder(config="synthetic_tiny", data_dir=str(tmp_path))
    builder.download_and_prepare()
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    assert examples[0]["layers"].shape == (6, 32, 32, 3)
    types = np.array([e["type"] for e in examples])
    # Extraction finds the true particles: nearly all are matched to a true box (IoU >= 0.5).
    assert np.mean(types != sgb.UNKNOWN) >= 0.8
    assert all(e["true_iou"] >= 0.5 for e in examples if e["type"] != sgb.UNKNOWN)
    for e in examples:  # the stored crop is the extraction's crop of that box
        y0, x0, y1, x1 = e["box"]
        assert 0 <= y0 < y1 <= 128 and 0 <= x0 < x1 <= 160
        assert e["edge"] == (y0 == 0 or x0 == 0 or y1 == 128 or x1 == 160)


@pytest.fixture
def manual_dir(tmp_path):
    shutil.copytree(DUMMY, tmp_path / "lab")
    return tmp_path / "lab"


def _build(folder, tmp_path):
    builder = sgb.Builder(config="manual", data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(folder)))
    return builder


def test_manual_folder_settings_file_sets_the_extraction(manual_dir, tmp_path):
    """An extraction.json in the manual folder reaches the extraction and is kept in the metadata."""
    settings = dataclasses.replace(extraction.PAPER_SETTINGS, min_area_fraction=0.015)  # ~307 px of 160x128
    (manual_dir / extraction.SETTINGS_FILE).write_text(json.dumps({"min_area_fraction": 0.015}))
    builder = _build(manual_dir, tmp_path)
    found = collections.Counter()
    for e in tfds.as_numpy(builder.as_dataset(split="train+validation+test")):
        found[(e["sample_id"].decode(), e["position_id"].decode())] += 1
    expected = {(s.sample, s.position): len(extraction.extract_particles(grain_photos.read_photo_set(s), settings))
                for s in grain_photos.find_photo_sets(str(manual_dir))}
    assert found == {key: n for key, n in expected.items() if n}
    assert 4 <= sum(found.values()) < 14  # the default settings find 14 particles
    reloaded = sgb.Builder(config="manual", data_dir=str(tmp_path / "data"))
    assert reloaded.info.metadata["extraction"]["min_area_fraction"] == 0.015
    assert reloaded.info.metadata["extraction"]["plate"] == "auto"


def test_bad_settings_file_stops_the_build(manual_dir, tmp_path):
    (manual_dir / extraction.SETTINGS_FILE).write_text(json.dumps({"plate": "dark", "split": True}))
    with pytest.raises(ValueError, match=r"extraction.json: unknown setting\(s\) split"):
        _build(manual_dir, tmp_path)
    assert not (tmp_path / "data" / "sediment_grains" / "manual").exists() or not any(
        (tmp_path / "data" / "sediment_grains" / "manual").rglob("*.tfrecord*"))


@pytest.mark.parametrize("breakage, message", [
    (lambda d: (d / "B" / "P0002_L6.png").unlink(), "B/P0002: 5 layer image"),
    (lambda d: coretf_io.write_image(d / "A" / "P0001" / "focus3.png", np.zeros((64, 80, 3), np.uint8)),
     "A/P0001: focus3.png is 80x64 px but focus0.png is 160x128 px"),
    (lambda d: [coretf_io.write_image(p, np.full((128, 160, 3), (40, 180, 55), np.uint8))
                for p in (d / "A" / "P0000").iterdir()], "A/P0000: no particles found"),
    (lambda d: (d / "B" / "P0002_L2.png").write_bytes(b"not a png"), "P0002_L2.png: cannot be decoded"),
])
def test_bad_manual_sets_name_the_files(manual_dir, tmp_path, breakage, message):
    breakage(manual_dir)
    with pytest.raises(ValueError, match=message):
        _build(manual_dir, tmp_path)


def test_missing_manual_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        grain_photos.find_photo_sets(str(tmp_path / "nowhere"))
