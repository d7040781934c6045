"""ice_ct builder tests: both configs through TFDS's test case, then bad manual folders."""

import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from coretf import io as coretf_io
from coretf.preprocess import ice_stack
from coretf_datasets.ice_ct import ice_ct_dataset_builder as icb
from coretf_datasets.ice_ct import manual_specimens

DUMMY = pathlib.Path(__file__).parent / "dummy_data"


class IceCtManualTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = icb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["manual"]
    SKIP_CHECKSUMS = True
    # A: 6 low-res slices -> train 0-2 (slice 1 skipped: all-black high-res s2), validation 3,
    # test 4-5. B: 4 -> train 0-1, validation 2, test 3.
    SPLITS = {"train": 4, "validation": 2, "test": 3}


class IceCtSyntheticTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = icb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["synthetic_tiny"]  # 3 specimens x 4 low-res slices
    SKIP_CHECKSUMS = True
    SPLITS = {"train": 6, "validation": 3, "test": 3}


def test_synthetic_example_fields(tmp_path):
    builder = icb.Builder(config="synthetic_tiny", data_dir=str(tmp_path))
    builder.download_and_prepare()
    examples = list(tfds.as_numpy(builder.as_dataset(split="test")))
    assert sorted(e["specimen_id"].decode() for e in examples) == ["firn", "ice", "snow"]
    for example in examples:
        assert example["image"].shape == (32, 32, 1) and example["slice_index"] == 3
        fov = example["fov"][..., 0].astype(bool)
        assert example["has_truth"] and 0.4 < fov.mean() < np.pi * 0.44**2  # inside the tube
        for name in ("weak_label", "truth", "gmm_low", "otsu_low"):
            assert set(np.unique(example[name])) <= {0, 1} and not example[name][~fov].any()
        # The weak label from the high resolution agrees with the exact truth. (A tiny bubbly-ice
        # slice may hold no bubble at all, and a 2-component mixture then splits the ice noise.)
        if example["specimen_id"] != b"ice":
            assert np.mean(example["weak_label"][fov] == example["truth"][fov]) > 0.95
    fractions = {e["specimen_id"].decode(): e["truth"][e["fov"] > 0].mean() for e in examples}
    assert fractions["snow"] < fractions["firn"] < fractions["ice"]


@pytest.fixture
def lab(tmp_path):
    shutil.copytree(DUMMY, tmp_path / "lab")
    return tmp_path / "lab"


def _build_manual(folder, tmp_path):
    builder = icb.Builder(config="manual", data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(folder)))


def _table(row):
    """A breakage: specimens.csv replaced by one row."""
    text = f"specimen,high_voxel_um,low_voxel_um,weight_g,height_mm,diameter_mm\n{row}\n"
    return lambda d: (d / "specimens.csv").write_text(text)


@pytest.mark.parametrize("breakage, message", [
    (lambda d: (d / "specimens.csv").unlink(), "specimens.csv: missing"),
    (lambda d: (d / "specimens.csv").write_text("specimen,high_voxel_um\nA,30\n"), "missing column"),
    (lambda d: (d / "specimens.csv").write_text(
        "specimen,high_voxel_um,low_voxel_um,weight_g,height_mm,diameter_mm\nA,30,60,,1,2\n"),
     "line 2: missing weight_g"),
    (lambda d: (d / "specimens.csv").write_text(
        "specimen,high_voxel_um,low_voxel_um,weight_g,height_mm,diameter_mm\nA,30,60,x,1,2\n"),
     "weight_g 'x' is not a number"),
    (_table("A,30,60,inf,1,2"), "line 2: need weight_g to be finite for specimen 'A', got inf"),
    (_table("A,60,30,1,1,2"), r"line 2: low_voxel_um \(30.0\) must exceed high_voxel_um \(60.0\)"),
    (lambda d: (d / "specimens.csv").write_text(
        "specimen,high_voxel_um,low_voxel_um,weight_g,height_mm,diameter_mm\nC,30,60,1,1,2\n"),
     "C/high: missing stack folder"),
    (lambda d: (d / "A" / "high" / "s11.png").unlink(), "do not pair up"),
    (lambda d: coretf_io.write_image(d / "A" / "high" / "s4.png", np.ones((90, 96), np.uint8)),
     "s4.png: 90x96 uint8 differs from the stack's first slice s0.png"),
    (lambda d: coretf_io.write_image(d / "B" / "low" / "b2.tif", np.ones((32, 32), np.uint8)),
     "b2.tif: 32x32 uint8 differs .* mixed sizes or bit depths"),
    (lambda d: (d / "A" / "low" / "s3.png").write_bytes(b"not a png"), "s3.png: cannot be decoded"),
])
def test_bad_manual_folders_name_the_file(lab, tmp_path, breakage, message):
    breakage(lab)
    with pytest.raises(ValueError, match=message):
        _build_manual(lab, tmp_path)


def test_low_resolution_must_be_half(tmp_path):
    high = np.full((64, 64), 100, np.uint8)
    with pytest.raises(ValueError, match="low.png: 40x40 px does not pair with h0.png"):
        ice_stack.label_pair(high, high, np.zeros((40, 40), np.uint8), ("h0.png", "h1.png", "low.png"))


def test_missing_manual_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        manual_specimens.read_table(tmp_path / "nowhere")


def test_a_split_column_puts_a_whole_specimen_in_one_split(lab, tmp_path):
    """B, named test in specimens.csv, is test whole; A is still cut by depth."""
    table = (lab / "specimens.csv").read_text().splitlines()
    (lab / "specimens.csv").write_text("\n".join([table[0] + ",split", table[1] + ",", table[2] + ",test"]) + "\n")
    _build_manual(lab, tmp_path)
    built = icb.Builder(config="manual", data_dir=str(tmp_path / "data"))
    by_split = {split: sorted(e["specimen_id"].decode() for e in tfds.as_numpy(built.as_dataset(split=split)))
                for split in ("train", "validation", "test")}
    assert "B" not in by_split["train"] + by_split["validation"]
    assert by_split["test"].count("B") == 4 and "A" in by_split["train"]  # all 4 of B's low-res slices
