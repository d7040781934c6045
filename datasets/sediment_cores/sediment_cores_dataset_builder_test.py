"""sediment_cores builder tests: both configs through TFDS's test case, then bad manual folders."""

import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from coretf import io as coretf_io
from coretf_datasets import splits as splits_lib
from coretf_datasets.sediment_cores import manual_sections
from coretf_datasets.sediment_cores import sediment_cores_dataset_builder as scb

DUMMY = pathlib.Path(__file__).parent / "dummy_data"



class SedimentCoresManualTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = scb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["manual"]
    SKIP_CHECKSUMS = True
    # dummy_data: A-01 (RGBA PNG) and A-02 (JPEG + mask) train, 6 + 6 patches; A-04 (depth
    # along y) validation, 6; A-03 (16-bit TIFF) and A-05 (inverted label) test, 4 + 4.
    SPLITS = {"train": 12, "validation": 6, "test": 8}


class SedimentCoresSyntheticTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = scb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["synthetic_tiny"]  # three short sections: one per split
    SKIP_CHECKSUMS = True
    SPLITS = {"train": None, "validation": None, "test": None}  # filled in below

    @classmethod
    def setUpClass(cls):
        tiny = next(c for c in scb.Builder.BUILDER_CONFIGS if c.name == "synthetic_tiny")
        section = scb.synthetic_cores.make_section(0, length_cm=tiny.length_cm, px_per_cm=tiny.px_per_cm)
        height, width = section.mask.shape
        per_section = len(scb.tile_origins(height, 64)) * len(scb.tile_origins(width, 64))
        cls.SPLITS = {"train": per_section, "validation": per_section, "test": per_section}
        super().setUpClass()


class SedimentCoresSyntheticCroppedTest(tfds.testing.DatasetBuilderTestCase):
    """The same sections with the background removed: fewer patches, counted from the crops."""

    DATASET_CLASS = scb.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["synthetic_tiny_cropped"]
    SKIP_CHECKSUMS = True
    SPLITS = {"train": None, "validation": None, "test": None}  # filled in below

    @classmethod
    def setUpClass(cls):
        tiny = next(c for c in scb.Builder.BUILDER_CONFIGS if c.name == "synthetic_tiny_cropped")
        ids = [f"S{i:04d}" for i in range(tiny.num_sections)]
        splits = splits_lib.assign_splits(ids, seed=tiny.seed, test_fraction=tiny.test_fraction,
                                          validation_fraction=tiny.validation_fraction)
        cls.SPLITS = {}
        for section_id, split in splits.items():
            made = scb.synthetic_cores.make_section(int(section_id[1:]), length_cm=tiny.length_cm,
                                                    px_per_cm=tiny.px_per_cm)
            section = scb.manual_sections.Section(section_id, made.image, made.mask, made.px_per_cm,
                                                  made.top_depth_cm, section_id, made.core_box[0])
            cropped = scb.crop_to_core(section, (tiny.length_cm,))
            # Only the core is patched: at most a core's worth of 64 px tiles, never the tray.
            assert cropped.image.shape[0] <= made.core_box[3] - made.core_box[1]
            height, width = cropped.mask.shape
            cls.SPLITS[split] = len(scb.tile_origins(height, 64)) * len(scb.tile_origins(width, 64))
        super().setUpClass()


def test_crop_to_core_keeps_depth_exact():
    made = scb.synthetic_cores.make_section(1, length_cm=30.0, px_per_cm=20.0)
    section = scb.manual_sections.Section("S0001", made.image, made.mask, made.px_per_cm,
                                          made.top_depth_cm, "S0001", made.core_box[0])
    cropped = scb.crop_to_core(section, (30.0,))
    assert abs(cropped.top_px) <= 2  # the crop starts at the core top, to 0.1 cm
    x0, y0, x1, y1 = made.core_box
    assert abs(cropped.image.shape[1] - (x1 - x0)) <= 4  # the whole core length, no tray
    assert 0.7 * (y1 - y0) <= cropped.image.shape[0] <= y1 - y0
    first = next(scb.cut_patches(cropped, 64))[1]
    assert first["depth_cm"] == pytest.approx(made.top_depth_cm - cropped.top_px / 20.0)


def test_tile_origins_cover_edges_without_dropping_tiles():
    assert scb.tile_origins(300, 128) == [0, 128, 172]
    assert scb.tile_origins(256, 128) == [0, 128]
    assert scb.tile_origins(128, 128) == [0]


def test_patches_keep_depth_order_and_label():
    rows = manual_sections.read_table(DUMMY)
    vertical = manual_sections.read_section(DUMMY, rows["A-04"])
    stored = coretf_io.read_image(DUMMY / "A-04.png")
    # depth_axis y: stored image row r becomes canonical column r (a transpose, not a flip)
    np.testing.assert_array_equal(vertical.image[:, 5], stored[5, :, :3])
    patches = list(scb.cut_patches(vertical, 128))
    depths = [example["depth_cm"] for _, example in patches if example["origin"][0] == 0]
    assert depths == sorted(depths) and depths[0] == pytest.approx(38.0)
    inverted = manual_sections.read_section(DUMMY, rows["A-05"])
    assert inverted.mask[:6].max() == 0  # the tray strip is background whatever the convention


@pytest.fixture
def manual_dir(tmp_path):
    shutil.copytree(DUMMY, tmp_path / "lab")
    return tmp_path / "lab"


def _read_all(folder):
    rows = manual_sections.read_table(folder)
    for row in rows.values():
        for _ in scb.cut_patches(manual_sections.read_section(folder, row), 128):
            pass


def _table(*rows):
    """A breakage: sections.csv replaced by these rows."""
    text = "section,px_per_cm,top_depth_cm,depth_axis,invert_label\n" + "".join(f"{r}\n" for r in rows)
    return lambda d: (d / "sections.csv").write_text(text)


@pytest.mark.parametrize("breakage, message", [
    (lambda d: (d / "sections.csv").unlink(), "sections.csv: missing"),
    (lambda d: (d / "sections.csv").write_text("section,px_per_cm\nA-01,20\n"), "missing column"),
    (lambda d: (d / "sections.csv").write_text("section,px_per_cm,top_depth_cm,depth_axis\n"),
     "lists no sections"),
    (lambda d: (d / "sections.csv").write_text(
        "section,px_per_cm,top_depth_cm,depth_axis\nA-01,20,0,z\n"), "depth_axis must be"),
    (lambda d: (d / "sections.csv").write_text(
        "section,px_per_cm,top_depth_cm,depth_axis\nA-01,abc,0,x\n"), "line 2"),
    # A scale or depth that is not a finite number would be built into every patch.
    (_table("A-01,inf,0,x"), "line 2: need px_per_cm to be finite for section 'A-01', got inf"),
    (_table("A-01,20,nan,x"), "line 2: need top_depth_cm to be finite for section 'A-01', got nan"),
    (_table("A-01,-20,0,x"), "line 2: need px_per_cm > 0"),
    (_table("A-01,20,0,x,maybe"), "invert_label 'maybe' is not true or false"),
    (_table("A-01,20,0,x", "A-01,20,150,x"), "line 3: section 'A-01' listed twice"),
    (lambda d: (d / "A-01.png").write_bytes((d / "A-01.png").read_bytes()[:200]), "A-01.png: cannot be decoded"),
    (lambda d: (d / "A-02_mask.png").unlink(), "no A-02_mask.png"),
    (lambda d: coretf_io.write_image(d / "A-02_mask.png", np.ones((10, 10), np.uint8)),
     "A-02_mask.png: mask is 10x10 px but A-02.jpg is 140x260"),
    (lambda d: (d / "A-05.png").unlink(), "no image for section 'A-05'"),
])
def test_bad_manual_folders_name_the_file(manual_dir, breakage, message):
    breakage(manual_dir)
    with pytest.raises(ValueError, match=message):
        _read_all(manual_dir)


def test_missing_manual_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        manual_sections.read_table(tmp_path / "nowhere")


def test_tfds_command_line_builds_the_folder(tmp_path):
    """`tfds build datasets/sediment_cores` works offline (the CLI needs apache-beam, mlcroissant)."""
    tfds_cli = pathlib.Path(sys.executable).parent / "tfds"
    result = subprocess.run(
        [str(tfds_cli), "build", str(pathlib.Path(__file__).parent), "--config=manual",
         f"--manual_dir={DUMMY}", f"--data_dir={tmp_path}"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    built = tfds.builder_from_directory(str(tmp_path / "sediment_cores" / "manual" / str(scb.Builder.VERSION)))
    assert {name: split.num_examples for name, split in built.info.splits.items()} == {
        "train": 12, "validation": 6, "test": 8}
    # Pixels survive the PNG round trip in RGB order, at the patch's recorded origin.
    example = next(iter(tfds.as_numpy(built.as_dataset(split="train").filter(
        lambda e: e["section_id"] == "A-01"))))
    section = manual_sections.read_section(DUMMY, manual_sections.read_table(DUMMY)["A-01"])
    row, col = example["origin"]
    np.testing.assert_array_equal(example["image"], section.image[row:row + 128, col:col + 128])
    np.testing.assert_array_equal(example["mask"][..., 0], section.mask[row:row + 128, col:col + 128])


def test_a_section_narrower_than_a_patch_is_padded_and_the_padding_ignored(manual_dir):
    """116 px across the core and 128 px patches: mirror padding across the core, labelled IGNORE."""
    from coretf.labels import IGNORE

    image = np.zeros((116, 300, 4), np.uint8)
    image[..., :3] = np.arange(116, dtype=np.uint8)[:, None, None]
    image[..., 3] = 255
    coretf_io.write_image(manual_dir / "A-03.tif", image)
    row = manual_sections.read_table(manual_dir)["A-03"]
    patches = [example for _, example in scb.cut_patches(manual_sections.read_section(manual_dir, row), 128)]
    assert len(patches) == 3  # one row of patches along the 300 px, none refused
    mask = coretf_io.decode_image(patches[0]["mask"], "m.png")
    assert np.all(mask[:116] == 1) and np.all(mask[116:] == IGNORE)
    picture = coretf_io.decode_image(patches[0]["image"], "p.png")
    np.testing.assert_array_equal(picture[116:, 0, 0], np.arange(115, 103, -1))  # mirrored
    assert patches[0]["kept_pixels"] == 116 * 128


def test_flat_images_and_masks_folders_with_colour_codes_and_a_split_column(tmp_path):
    """A lab's images/ + masks/ folders, RGB colour-coded masks with an unlabelled colour, and the
    sections it wants held out named in its table."""
    from coretf.labels import IGNORE
    from coretf_datasets import splits as splits_lib

    lab = tmp_path / "lab"
    table = ["section,px_per_cm,top_depth_cm,depth_axis,split"]
    for index in range(5):
        name = f"S{index}"
        photo = np.full((140, 260, 3), 60 + 20 * index, np.uint8)
        mask = np.zeros((140, 260, 3), np.uint8)
        mask[:, :100] = (0, 255, 0)  # undisturbed
        mask[:, 100:200] = (255, 0, 0)  # disturbed
        # the rest (black) is not labelled
        coretf_io.write_image(lab / "images" / f"{name}.png", photo)
        coretf_io.write_image(lab / "masks" / f"{name}_mask.png", mask)
        table.append(f"{name},20,{150 * index},x,{'test' if index == 4 else ''}")
    (lab / "sections.csv").write_text("\n".join(table) + "\n")
    (lab / "labels.csv").write_text("value,class\n#00ff00,undisturbed\n#ff0000,disturbed\n#000000,ignore\n")
    rows = manual_sections.read_table(lab)
    section = manual_sections.read_section(lab, rows["S1"])
    assert np.all(section.mask[:, :100] == 1) and np.all(section.mask[:, 100:200] == 0)
    assert np.all(section.mask[:, 200:] == IGNORE)
    splits = splits_lib.assign_splits(list(rows), seed=0, test_fraction=0.4, validation_fraction=0.2,
                                      fixed={k: r.split for k, r in rows.items() if r.split})
    assert [k for k, v in splits.items() if v == "test"] == ["S4"]
    assert sum(v == "validation" for v in splits.values()) == 1
    with pytest.raises(ValueError, match="class 'rock' is not one of disturbed_or_background, undisturbed"):
        (lab / "labels.csv").write_text("value,class\n#00ff00,rock\n")
        manual_sections.read_section(lab, rows["S1"])
