"""Per-grain sizes and D10/D50/D90 with bootstrap intervals: known shapes, and the real
segmenteverygrain masks against the per-grain table segmenteverygrain wrote for them."""

from __future__ import annotations

import csv
import pathlib

import numpy as np
import pytest
from skimage import draw

from coretf import io as coretf_io
from coretf.analysis import grain_sizes

REAL = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "segmenteverygrain" / "examples"


def ellipses(semi_axes, shape=(400, 400)) -> np.ndarray:
    labels = np.zeros(shape, np.int32)
    for i, (a, b) in enumerate(semi_axes):
        row, col = 50 + 100 * (i // 4), 50 + 100 * (i % 4)
        rr, cc = draw.ellipse(row, col, b, a, shape=shape)
        labels[rr, cc] = i + 1
    return labels


def test_ellipse_axes_area_and_circularity_in_mm():
    rows = grain_sizes.measure_labels(ellipses([(30, 15), (20, 20)]), mm_per_px=0.1)
    ellipse, disc = rows
    assert ellipse["major_axis_mm"] == pytest.approx(6.0, rel=0.03)  # 2 x 30 px x 0.1 mm
    assert ellipse["minor_axis_mm"] == pytest.approx(3.0, rel=0.03)
    assert ellipse["aspect_ratio"] == pytest.approx(0.5, rel=0.03)
    assert ellipse["area_mm2"] == pytest.approx(np.pi * 3.0 * 1.5, rel=0.03)
    assert disc["equivalent_diameter_mm"] == pytest.approx(4.0, rel=0.03)
    assert disc["circularity"] > 0.85 and ellipse["circularity"] < disc["circularity"]
    assert not ellipse["touches_edge"]


def test_labels_of_a_reduced_copy_are_measured_in_the_images_pixels():
    """Outlines found on a half-size copy (px_per_label=2) give the full-size figures."""
    full = grain_sizes.measure_labels(ellipses([(30, 15), (20, 20)], shape=(400, 400)), mm_per_px=0.1)
    half = grain_sizes.measure_labels(ellipses([(15, 7.5), (10, 10)], shape=(200, 200)), mm_per_px=0.1,
                                      px_per_label=2.0)
    for a, b in zip(full, half):
        for column in ("area_px", "major_axis_mm", "minor_axis_mm", "equivalent_diameter_mm", "area_mm2"):
            assert b[column] == pytest.approx(a[column], rel=0.06), column
    assert [r["centroid_x_px"] for r in half] == pytest.approx([100, 300], abs=1)  # 2 x (50, 150)


def test_without_a_scale_the_mm_columns_are_empty():
    rows = grain_sizes.measure_labels(ellipses([(10, 5)]))
    assert rows[0]["major_axis_mm"] is None and rows[0]["major_axis_px"] == pytest.approx(20, rel=0.05)
    assert set(rows[0]) == set(grain_sizes.COLUMNS)
    with pytest.raises(ValueError, match="mm_per_px"):
        grain_sizes.measure_labels(ellipses([(10, 5)]), mm_per_px=float("inf"))


def test_percentiles_and_bootstrap_intervals_cover_the_population_value():
    population = {10: np.exp(0.5 * -1.2816), 50: 1.0, 90: np.exp(0.5 * 1.2816)}  # lognormal(0, 0.5)
    rng = np.random.default_rng(1)
    covered = {p: 0 for p in population}
    for trial in range(40):
        sizes = rng.lognormal(mean=0.0, sigma=0.5, size=200)
        stats = grain_sizes.size_percentiles(sizes, resamples=400, seed=trial)
        for p, value in population.items():
            d = stats[f"D{p}"]
            assert d["value"] == pytest.approx(np.percentile(sizes, p))
            assert d["low"] <= d["value"] <= d["high"]
            covered[p] += d["low"] <= value <= d["high"]
    assert all(count >= 32 for count in covered.values()), covered  # ~95 % intervals: >= 80 % of 40
    sizes = rng.lognormal(size=400)
    wide = grain_sizes.size_percentiles(sizes[:20])["D50"]
    narrow = grain_sizes.size_percentiles(sizes)["D50"]
    assert wide["high"] - wide["low"] > narrow["high"] - narrow["low"]
    with pytest.raises(ValueError, match="at least 2"):
        grain_sizes.size_percentiles([1.0])


def test_distribution_plot(tmp_path):
    sizes = np.random.default_rng(0).lognormal(size=100)
    path = tmp_path / "sizes.png"
    grain_sizes.save_distribution_plot(str(path), sizes, grain_sizes.size_percentiles(sizes), unit="mm")
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize("name, mask", [("torrey_pines_beach", "torrey_pines_beach_mask.png"),
                                        ("barton_creek", "barton_creek_image_mask.png")])
def test_real_gravel_masks_agree_with_segmenteverygrains_table(name, mask):
    folder = REAL / name
    if not folder.exists():
        pytest.skip("../shared/realdata/segmenteverygrain is not here")
    labels = grain_sizes.labels_from_mask(coretf_io.read_image(folder / mask))  # 1 grain, 2 edge
    rows = grain_sizes.measure_labels(labels, min_area_px=30)
    with open(folder / f"{name}_image.csv", newline="") as f:
        theirs = list(csv.DictReader(f))
    assert abs(len(rows) - len(theirs)) / len(theirs) < 0.05  # the same grains (a few small extra)
    # Scale-free figures (the table is in mm, the mask in px): shape and the spread of sizes.
    ours_aspect = np.median([r["aspect_ratio"] for r in rows])
    their_aspect = np.median([float(r["minor_axis_length"]) / float(r["major_axis_length"]) for r in theirs])
    assert abs(ours_aspect - their_aspect) < 0.05
    ours = grain_sizes.size_percentiles([r["major_axis_px"] for r in rows])
    table = grain_sizes.size_percentiles([float(r["major_axis_length"]) for r in theirs])
    ratio = {k: ours[k]["value"] / ours["D50"]["value"] for k in ("D10", "D90")}
    their_ratio = {k: table[k]["value"] / table["D50"]["value"] for k in ("D10", "D90")}
    assert ratio["D90"] == pytest.approx(their_ratio["D90"], rel=0.05)
    assert ratio["D10"] == pytest.approx(their_ratio["D10"], rel=0.12)  # the extra small grains
