"""Per-grain size and shape, and grain-size distributions with bootstrap uncertainty.

What grain-size tools report (ImageGrains, segmenteverygrain): for every grain its area, the
major and minor axes of the ellipse with the same second moments, the equivalent-circle
diameter, circularity 4 pi A / P^2 and aspect ratio (minor / major), in mm when the image scale
is known (`mm_per_px`), else in pixels; and for a sample the percentiles D10, D50, D90 of a size
(by number of grains), each with a bootstrap confidence interval (grains resampled with
replacement), since a photograph holds a few hundred grains at most.

    rows = measure_labels(labels, mm_per_px=0.05)       # a label image: 0 = background
    stats = size_percentiles([r["major_axis_mm"] for r in rows])
    save_distribution_plot("sizes.png", values, stats, unit="mm")
"""

from __future__ import annotations

import math

import numpy as np
from skimage import measure, segmentation

from coretf import plots

PERCENTILES = (10, 50, 90)
COLUMNS = ("grain", "centroid_x_px", "centroid_y_px", "area_px", "major_axis_px", "minor_axis_px",
           "equivalent_diameter_px", "perimeter_px", "circularity", "aspect_ratio", "area_mm2",
           "major_axis_mm", "minor_axis_mm", "equivalent_diameter_mm", "touches_edge")


def labels_from_mask(mask: np.ndarray, grain: int = 1, edge: int | None = 2, edge_px: int = 4) -> np.ndarray:
    """Grain labels from a class mask (segmenteverygrain's: 0 background, 1 grain, 2 grain edge):
    connected grain interiors, grown back over the edge class by up to `edge_px` px."""
    labels = measure.label(np.asarray(mask) == grain, connectivity=1)
    if edge is not None and edge_px > 0:
        grown = segmentation.expand_labels(labels, edge_px)
        labels = np.where(np.isin(mask, (grain, edge)), grown, 0)
    return labels


def measure_labels(labels: np.ndarray, mm_per_px: float | None = None, min_area_px: int = 1,
                   offset: tuple[int, int] = (0, 0), px_per_label: float = 1.0) -> list[dict]:
    """One row (COLUMNS) per labelled grain of a label image (0 = background).

    Args:
        labels: (H, W) integer labels.
        mm_per_px: image scale; without it the mm columns are empty (None).
        min_area_px: grains with fewer label pixels are left out.
        offset: (y, x) of the label image in a larger frame (centroids are given in the frame).
        px_per_label: image px per label px, for labels found on a reduced copy of the image:
            the px columns (and through them the mm ones) are in the image's pixels.
    """
    if mm_per_px is not None and not (math.isfinite(mm_per_px) and mm_per_px > 0):
        raise ValueError(f"mm_per_px={mm_per_px}: must be a positive number")
    height, width = labels.shape
    rows = []
    for region in measure.regionprops(np.asarray(labels)):
        if region.area < min_area_px:
            continue
        y0, x0, y1, x1 = region.bbox
        k = float(px_per_label)
        perimeter = float(region.perimeter)
        major, minor = k * float(region.axis_major_length), k * float(region.axis_minor_length)
        row = {"grain": int(region.label), "centroid_x_px": k * float(region.centroid[1]) + offset[1],
               "centroid_y_px": k * float(region.centroid[0]) + offset[0],
               "area_px": int(round(k * k * region.area)), "major_axis_px": major, "minor_axis_px": minor,
               "equivalent_diameter_px": k * float(region.equivalent_diameter_area),
               "perimeter_px": k * perimeter,
               "circularity": float(min(1.0, 4 * math.pi * region.area / perimeter**2)) if perimeter else None,
               "aspect_ratio": minor / major if major else None,
               "touches_edge": int(y0 == 0 or x0 == 0 or y1 == height or x1 == width)}
        scale = mm_per_px
        row.update(area_mm2=None if scale is None else k * k * region.area * scale**2,
                   major_axis_mm=None if scale is None else major * scale,
                   minor_axis_mm=None if scale is None else minor * scale,
                   equivalent_diameter_mm=None if scale is None else row["equivalent_diameter_px"] * scale)
        rows.append(row)
    return rows


def size_percentiles(values, percentiles=PERCENTILES, *, resamples: int = 2000, confidence: float = 0.95,
                     seed: int = 0) -> dict:
    """D<p> (percentile by number of grains) of `values` with a bootstrap confidence interval.

    Returns:
        {"n": grains, "D10": {"value", "low", "high"}, ...}; low/high bound the `confidence`
        interval of the percentile over `resamples` resamplings of the grains.

    Raises:
        ValueError: fewer than two finite values.
    """
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], float)
    if values.size < 2:
        raise ValueError(f"{values.size} grain(s): a size distribution needs at least 2")
    rng = np.random.default_rng(seed)
    samples = values[rng.integers(0, values.size, size=(resamples, values.size))]
    boot = np.percentile(samples, percentiles, axis=1)
    tail = 100 * (1 - confidence) / 2
    out = {"n": int(values.size), "confidence": confidence, "resamples": resamples}
    for p, draws in zip(percentiles, boot):
        low, high = np.percentile(draws, [tail, 100 - tail])
        out[f"D{p}"] = {"value": float(np.percentile(values, p)), "low": float(low), "high": float(high)}
    return out


def save_distribution_plot(path: str, values, stats: dict, *, unit: str, quantity: str = "major axis",
                           title: str = "") -> None:
    """Cumulative size distribution (% finer by number, log size axis) with D10/D50/D90 and
    their bootstrap intervals."""
    values = np.sort(np.asarray([v for v in values if v is not None and np.isfinite(v)], float))
    figure, axis = plots.plt.subplots(figsize=(7, 4.5))
    axis.plot(values, 100 * np.arange(1, values.size + 1) / values.size, color="black", lw=1.5,
              drawstyle="steps-post", label=f"{stats['n']} grains")
    colours = {10: "tab:blue", 50: "tab:red", 90: "tab:green"}
    for key, figure_stats in stats.items():
        if not key.startswith("D"):
            continue
        p = int(key[1:])
        colour = colours.get(p, "tab:gray")
        axis.axvspan(figure_stats["low"], figure_stats["high"], color=colour, alpha=0.15)
        axis.axvline(figure_stats["value"], color=colour, lw=1,
                     label=f"{key} = {figure_stats['value']:.3g} {unit} "
                           f"({figure_stats['low']:.3g}-{figure_stats['high']:.3g})")
    if values.min() > 0:
        axis.set_xscale("log")
        ticker = plots.matplotlib.ticker
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.xaxis.set_minor_formatter(ticker.FuncFormatter(
            lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
    axis.set(xlabel=f"{quantity} ({unit})", ylabel="% finer (by number)", ylim=(0, 100),
             title=title or f"grain-size distribution; bands: {100 * stats['confidence']:.0f} % bootstrap intervals")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8, loc="lower right")
    plots.save_figure(figure, path)
