"""rock_ct builder tests: both configs through TFDS's test case, then bad manual folders."""

import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from coretf import io as coretf_io
from coretf_datasets.rock_ct import manual_stacks
from coretf_datasets.rock_ct import rock_ct_dataset_builder as rcb

DUMMY = pathlib.Path(__file__).parent / "dummy_data"


class RockCtManualTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = rcb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["manual"]
    SKIP_CHECKSUMS = True
    # dummy_data: one split per stack, one example per slice.
    SPLITS = {"carbonate_a": 3, "carbonate_b": 2, "soil_a": 3, "sandstone_a": 3}


class RockCtSyntheticTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = rcb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["synthetic_tiny"]  # the 11 stacks, 3 slices each
    SKIP_CHECKSUMS = True
    SPLITS = {stack_id: 3 for stack_id in rcb.rocks.stack_ids()}


class RockCtVariedTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = rcb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["synthetic_varied_tiny"]  # one domain-randomised stack per type
    SKIP_CHECKSUMS = True
    SPLITS = {"carbonate_v01": 3, "soil_v01": 3, "sandstone_v01": 3}


def test_manual_stacks_read_in_slice_order_with_binary_pores():
    table = manual_stacks.read_table(DUMMY)
    assert table == {"carbonate_a": "carbonate", "carbonate_b": "carbonate", "soil_a": "soil",
                     "sandstone_a": "sandstone"}
    stack = manual_stacks.read_stack(DUMMY, "carbonate_a", "carbonate")
    assert stack.image.shape == (3, 64, 72) and stack.slice_names == ("slice_000", "slice_001", "slice_002")
    np.testing.assert_array_equal(stack.image[1], coretf_io.read_image(DUMMY / "carbonate_a/images/slice_001.png"))
    np.testing.assert_array_equal(stack.pores[2] * 255,
                                  coretf_io.read_image(DUMMY / "carbonate_a/labels/slice_002.png"))
    ones = manual_stacks.read_stack(DUMMY, "carbonate_b", "carbonate")  # labels stored as 0/1
    assert set(np.unique(ones.pores)) == {0, 1}


def test_sixteen_bit_stacks_are_stretched_per_stack():
    soil = manual_stacks.read_stack(DUMMY, "soil_a", "soil")
    raw = np.stack([coretf_io.read_image(DUMMY / f"soil_a/images/slice_{i:03d}.tif") for i in range(3)])
    assert raw.dtype == np.uint16 and raw.max() < 20000  # a narrow band of the 16-bit range
    assert soil.image.dtype == np.uint8 and soil.image.min() == 0 and soil.image.max() == 255
    low, high = np.percentile(raw, [0.1, 99.9])
    expected = np.clip(np.rint((raw[1].astype(np.float32) - low) / (high - low) * 255), 0, 255)
    np.testing.assert_array_equal(soil.image[1], expected.astype(np.uint8))


@pytest.fixture
def manual_dir(tmp_path):
    shutil.copytree(DUMMY, tmp_path / "lab")
    return tmp_path / "lab"


def _read_all(folder):
    for stack, rock_type in manual_stacks.read_table(folder).items():
        manual_stacks.read_stack(folder, stack, rock_type)


@pytest.mark.parametrize("breakage, message", [
    (lambda d: coretf_io.write_image(d / "soil_a/labels/slice_001.tif", np.zeros((10, 10), np.uint8)),
     "stack 'soil_a': label slice_001.tif is 10x10 px but its image slice_001.tif is 64x64"),
    (lambda d: coretf_io.write_image(d / "carbonate_a/labels/slice_000.png",
                                     np.arange(64 * 72).reshape(64, 72).astype(np.uint8) % 3),
     r"stack 'carbonate_a': label slice_000.png is not binary \(values \[0, 1, 2\]"),
    (lambda d: [p.unlink() for p in (d / "carbonate_b").rglob("slice_001.png")],
     "stack 'carbonate_b': has 1 slice\\(s\\); a stack needs at least 2"),
    (lambda d: (d / "stacks.csv").write_text("stack,rock_type\ncarbonate_a,carbonate\ncarbonate_b,"
                                             "carbonate\nsoil_a,soil\n"),
     "stack 'sandstone_a': folder .* has no rock type in .*stacks.csv"),
    (lambda d: (d / "stacks.csv").write_text("stack,rock_type\ncarbonate_a,carbonate\ncarbonate_b,"
                                             "\nsoil_a,soil\nsandstone_a,sandstone\n"),
     "line 3: stack 'carbonate_b' has no rock type"),
    (lambda d: (d / "stacks.csv").write_text("stack\ncarbonate_a\n"), r"missing column\(s\) \['rock_type'\]"),
    (lambda d: (d / "stacks.csv").unlink(), "stacks.csv: missing"),
    (lambda d: (d / "sandstone_a/labels/slice_002.png").unlink(),
     "stack 'sandstone_a': slice 'slice_002' has no label file"),
    (lambda d: (d / "sandstone_a/images/slice_000.png").write_bytes(b"not a png"),
     "stack 'sandstone_a': .*slice_000.png: cannot be decoded"),
    (lambda d: coretf_io.write_image(d / "sandstone_a/images/slice_001.png", np.zeros((64, 70, 3), np.uint8)),
     "stack 'sandstone_a': slice_001.png is 64x70 px but the stack's first slice is"),
    (lambda d: (d / "stacks.csv").write_text("stack,rock_type\ncarbonate-a,carbonate\n"),
     "stack name 'carbonate-a' must be letters"),
])
def test_bad_manual_folders_name_the_stack(manual_dir, breakage, message):
    breakage(manual_dir)
    with pytest.raises(ValueError, match=message):
        _read_all(manual_dir)


def test_missing_manual_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        manual_stacks.read_table(tmp_path / "nowhere")


def test_colour_and_palette_slices_are_read_as_grey_with_a_note(manual_dir, caplog):
    """An RGB (or palette) CT slice where grey is expected: read as grey, the file named."""
    grey = coretf_io.read_image(manual_dir / "sandstone_a/images/slice_001.png")
    coretf_io.write_image(manual_dir / "sandstone_a/images/slice_001.png", np.repeat(grey[..., None], 3, -1))
    with caplog.at_level("WARNING", logger="coretf"):
        stack = manual_stacks.read_stack(manual_dir, "sandstone_a", "sandstone")
    assert "sandstone_a/images/slice_001.png: read as grey" in caplog.text
    np.testing.assert_array_equal(stack.image[1], grey)
