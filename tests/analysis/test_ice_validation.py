"""Physical validation: scores and microstructure of hand-drawn masks, Table II bookkeeping."""


import numpy as np
import pytest

from coretf import io as coretf_io
from coretf.analysis import ice_evaluation as iv


def test_scores_of_hand_drawn_masks():
    fov = np.ones((4, 4), bool)
    fov[3] = False  # the last row is outside the field of view and never counts
    reference = np.zeros((4, 4), bool)
    reference[:2, :2] = True  # 4 ice pixels
    predicted = np.zeros((4, 4), bool)
    predicted[:2, 1:3] = True  # 2 right, 2 false positives, 2 missed
    predicted[3] = True
    counts = iv.confusion(predicted, reference, fov)
    np.testing.assert_array_equal(counts, [2, 2, 2, 6])
    figures = iv.scores(counts)
    assert figures["iou"] == pytest.approx(2 / 6)
    assert figures["f1"] == pytest.approx(4 / 8)
    assert figures["accuracy"] == pytest.approx(8 / 12)
    assert np.isnan(iv.scores(np.array([0, 0, 0, 5]))["iou"])


def test_square_microstructure():
    fov = np.ones((20, 20), bool)
    ice = np.zeros((20, 20), bool)
    ice[5:15, 5:15] = True  # a 10 x 10 mm square of 1 mm pixels
    measures = iv.slice_measures(ice, fov, voxel_um=1000.0)
    assert measures["ice_fraction"] == pytest.approx(0.25)
    assert measures["density_g_cm3"] == pytest.approx(0.25 * 0.917)
    # 40 pixel edges x pi/4 = 31.4 mm of boundary over 100 mm^2 of ice
    assert measures["ssa_2d_per_mm"] == pytest.approx(np.pi / 4 * 40 / 100)
    assert measures["intercept_mm"] == pytest.approx(10.0)  # every row and column chord is 10 px
    # a disc: pi/4 x edge count estimates the circumference within a few percent
    rows, cols = np.mgrid[:200, :200]
    disc = (rows - 99.5) ** 2 + (cols - 99.5) ** 2 < 60**2
    ssa = iv.slice_measures(disc, np.ones_like(disc), 1000.0)["ssa_2d_per_mm"]
    assert ssa == pytest.approx(2 / 60, rel=0.03)


def _example(specimen, index, truth, weak, image=None):
    fov = np.ones_like(truth)
    return {"specimen_id": specimen.encode(), "slice_index": index, "has_truth": True,
            "image": (image if image is not None else truth * 200)[..., None].astype(np.uint8),
            "fov": fov[..., None], "weak_label": weak[..., None], "truth": truth[..., None],
            "gmm_low": weak[..., None], "otsu_low": np.zeros_like(weak)[..., None],
            "low_voxel_um": 100.0, "weight_g": 2 * 8 * 0.917 * 1e-6}


def test_table_counts_test_slices_and_weighs_all(tmp_path):
    truth = np.zeros((8, 8), np.uint8)
    truth[2:4, 2:6] = 1  # 8 ice voxels per slice, 100 um voxels: 8 x 0.917 ug
    weak = truth.copy()
    weak[2, 2] = 0
    validation = iv.Validation()
    validation.add(_example("A", 0, truth, weak), truth.astype(np.float32), "train")
    validation.add(_example("A", 1, truth, weak), 0.9 * truth.astype(np.float32), "test")
    rows = {r["method"]: r for r in validation.table()}
    assert rows["network"]["test_slices"] == 1
    assert rows["network"]["iou_vs_truth"] == pytest.approx(1.0)
    assert rows["network"]["iou_vs_weak"] == pytest.approx(7 / 8)
    assert rows["gmm_high"]["iou_vs_truth"] == pytest.approx(7 / 8)
    assert rows["otsu_low"]["iou_vs_truth"] == 0.0
    # weight from both slices: the network finds all 16 voxels = the measured weight
    assert rows["network"]["weight_error_pct"] == pytest.approx(0.0, abs=1e-9)
    assert rows["gmm_high"]["weight_error_pct"] == pytest.approx(100 * (14 - 16) / 16)
    assert rows["network"]["density_g_cm3"] == pytest.approx(8 / 64 * 0.917)
    validation.write(str(tmp_path))
    assert len(coretf_io.read_csv(tmp_path / "table2.csv")) == len(iv.METHODS)
    markdown = (tmp_path / "table2.md").read_text()
    assert "| A | U-Net on low-res | 1 | 93.3 | 87.5 | 98.4 | 100.0 | 100.0 | 100.0 | 0.115 |" in markdown
    picture = coretf_io.read_image(tmp_path / "fig11_overlays.png")
    overlay, legend = picture[-8 * 4:], picture[:-8 * 4]  # the overlays under a legend band
    assert picture.shape[1] == 8 * 4 and legend.shape[0] > 0
    assert (legend == (0, 220, 0)).all(-1).any() and (legend == (255, 30, 30)).all(-1).any()  # swatches
    # the network's boundary in red, drawn over the weak label's (green, hidden where they agree)
    red = (overlay == (255, 30, 30)).all(axis=-1)
    assert red.sum() == 8 * 16 and not (overlay == (0, 220, 0)).all(axis=-1).any()
    assert (tmp_path / "fig10_scatter.png").stat().st_size > 0


def test_specimen_without_test_slice_is_an_error():
    validation = iv.Validation()
    truth = np.ones((4, 4), np.uint8)
    validation.add(_example("B", 0, truth, truth), truth.astype(np.float32), "train")
    with pytest.raises(ValueError, match="specimen 'B': no test slice"):
        validation.table()


def test_boundary_is_ice_with_an_air_neighbour():
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    expected = mask.copy()
    expected[2, 2] = False
    np.testing.assert_array_equal(iv.boundary(mask), expected)
