"""Pore-space measurements of a segmented stack with PoreSpy: porosity, chord lengths, two-point
correlation (the figures rock physicists compare a segmentation by, beside IoU).

`measure(pores, valid)` takes a binary stack (D, H, W) or slice (H, W), 1 = pore, and the voxels
that count (the rest, e.g. outside the sample, is left out of the porosity and cut from the
chords). Chords run in the slice plane, along x and y (`porespy.filters.apply_chords`, chords
touching the image edge dropped); a chord that touches a voxel that does not count is dropped too,
since its true length is unknown. The two-point correlation S2(r) (`porespy.metrics.
two_point_correlation`) is the probability that two points r voxels apart are both pore: S2(0) is
the porosity and S2 falls to porosity^2 for uncorrelated distances; the correlation length is the
distance where S2 - phi^2 falls to 1/e of phi - phi^2. Lengths are in voxels times `voxel_size`.

PoreSpy is imported on first use (it takes seconds to load).
"""

from __future__ import annotations

import numpy as np
from matplotlib import pyplot as plt
from scipy import ndimage

from coretf import plots

AXES = {"x": -1, "y": -2}  # in-plane chord directions of a (D, H, W) stack or (H, W) slice
TPC_BINS = 32
TPC_SLICES = 8


def _chords(pores: np.ndarray, invalid: np.ndarray, axis: int) -> np.ndarray:
    """Chord lengths (voxels) along `axis`: edge chords and chords touching invalid voxels dropped."""
    import porespy  # noqa: PLC0415 (slow to import; only the rock job's evaluation needs it)

    chords = porespy.filters.apply_chords(pores, spacing=0, axis=axis % pores.ndim, trim_edges=True)
    line = np.zeros((3,) * pores.ndim, bool)
    index = [1] * pores.ndim
    index[axis % pores.ndim] = slice(None)
    line[tuple(index)] = True  # chords are 1-D runs: label them along the axis only
    labels, count = ndimage.label(chords > 0, structure=line)
    if not count:
        return np.zeros(0, np.int64)
    lengths = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    if invalid.any():
        touching = np.unique(labels[ndimage.binary_dilation(invalid, structure=line) & (labels > 0)])
        lengths[touching - 1] = 0
    return lengths[lengths > 0]


def correlation_length(distance: np.ndarray, s2: np.ndarray, porosity: float) -> float | None:
    """Distance where S2 - phi^2 first falls below (phi - phi^2) / e (linear between bins)."""
    excess = (s2 - porosity**2) / max(porosity - porosity**2, 1e-12)
    below = np.flatnonzero(excess < 1 / np.e)
    if not below.size or below[0] == 0:
        return None
    i = below[0]
    t = (excess[i - 1] - 1 / np.e) / (excess[i - 1] - excess[i])
    return float(distance[i - 1] + t * (distance[i] - distance[i - 1]))


def measure(pores: np.ndarray, valid: np.ndarray | None = None, voxel_size: float = 1.0,
            bins: int = TPC_BINS) -> dict:
    """Porosity, chord lengths along x and y, and the two-point correlation of one pore space.

    Returns:
        {"porosity", "chords": {axis: {"count", "mean", "median"}}, "chord_lengths": {axis: list},
         "two_point": {"distance", "s2"}, "correlation_length"}; lengths in `voxel_size` units.
    """
    import porespy  # noqa: PLC0415

    pores = np.asarray(pores) > 0
    valid = np.ones(pores.shape, bool) if valid is None else np.asarray(valid, bool)
    if valid.shape != pores.shape:
        raise ValueError(f"valid mask {valid.shape} does not match the pores {pores.shape}")
    if not valid.any():
        raise ValueError("no voxel counts (the valid mask is empty)")
    pores = pores & valid
    porosity = float(pores[valid].mean())
    out = {"porosity": porosity, "voxel_size": voxel_size, "chords": {}, "chord_lengths": {}}
    for name, axis in AXES.items():
        lengths = _chords(pores, ~valid, axis) * voxel_size
        out["chord_lengths"][name] = lengths.tolist()
        out["chords"][name] = {"count": int(lengths.size),
                               "mean": float(lengths.mean()) if lengths.size else None,
                               "median": float(np.median(lengths)) if lengths.size else None}
    # S2 in the slice plane, averaged over up to TPC_SLICES slices, each over the bounding box of
    # its valid pixels (invalid ones there count as solid).
    planes = pores.reshape(-1, *pores.shape[-2:])
    planes_valid = valid.reshape(planes.shape)
    chosen = [i for i in np.linspace(0, len(planes) - 1, min(TPC_SLICES, len(planes))).round().astype(int)
              if planes_valid[i].any()]
    curves, porosities = [], []
    for i in dict.fromkeys(chosen):
        box = tuple(slice(j.min(), j.max() + 1) for j in np.nonzero(planes_valid[i]))
        tpc = porespy.metrics.two_point_correlation(planes[i][box], voxel_size=voxel_size, bins=bins)
        curves.append((np.asarray(tpc.distance, float), np.asarray(tpc.probability_scaled, float)))
        porosities.append(float(planes[i][box].mean()))
    distance = curves[0][0]
    s2 = np.mean([np.interp(distance, d, c) for d, c in curves], axis=0)
    out["two_point"] = {"distance": distance.tolist(), "s2": s2.tolist()}
    out["correlation_length"] = correlation_length(distance, s2, float(np.mean(porosities)))
    return out


def compare(predicted: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None,
            voxel_size: float = 1.0) -> dict:
    """`measure` of the predicted and the true pore space, and the predicted/true ratios."""
    result = {"predicted": measure(predicted, valid, voxel_size), "true": measure(truth, valid, voxel_size)}
    ratio = {}
    for key, get in (("porosity", lambda m: m["porosity"]),
                     ("mean_chord_x", lambda m: m["chords"]["x"]["mean"]),
                     ("mean_chord_y", lambda m: m["chords"]["y"]["mean"]),
                     ("correlation_length", lambda m: m["correlation_length"])):
        p, t = get(result["predicted"]), get(result["true"])
        ratio[key] = None if p is None or not t else p / t
    result["predicted_over_true"] = ratio
    return result


def summary(comparison: dict) -> dict:
    """The scalar figures of `compare` (for metrics.json): porosity, mean chords, correlation length."""
    def scalars(m):
        return {"porosity": m["porosity"], "mean_chord_x": m["chords"]["x"]["mean"],
                "mean_chord_y": m["chords"]["y"]["mean"], "correlation_length": m["correlation_length"]}
    return {"predicted": scalars(comparison["predicted"]), "true": scalars(comparison["true"]),
            "predicted_over_true": comparison["predicted_over_true"]}


def save_plot(path: str, comparisons: dict[str, dict], unit: str = "voxels",
              predicted_label: str = "predicted") -> None:
    """Chord-length distributions (x) and S2(r), predicted (named `predicted_label` in the
    legends) against true, one row per stack."""
    names = sorted(comparisons)
    figure, axes = plt.subplots(len(names), 2, figsize=(10, 3.0 * len(names)), squeeze=False)
    styles = {"true": dict(color="black", lw=2), "predicted": dict(color="tab:red", lw=1.5, ls="--")}
    for row, name in zip(axes, names):
        for kind, style in styles.items():
            m = comparisons[name][kind]
            label = predicted_label if kind == "predicted" else kind
            lengths = np.asarray(m["chord_lengths"]["x"])
            if lengths.size:
                edges = np.histogram_bin_edges(np.concatenate(
                    [comparisons[name][k]["chord_lengths"]["x"] for k in styles]), bins=30)
                counts, _ = np.histogram(lengths, bins=edges, density=True)
                row[0].step(edges[:-1], counts, where="post", label=f"{label} (mean "
                            f"{m['chords']['x']['mean']:.1f})", **style)
            row[1].plot(m["two_point"]["distance"], m["two_point"]["s2"],
                        label=f"{label} (porosity {m['porosity']:.3f})", **style)
            row[1].axhline(m["porosity"] ** 2, color=style["color"], lw=0.5, ls=":",
                           label=f"{label} porosity^2")
        row[0].set(title=f"{name}\npore chord lengths along x", xlabel=f"chord length ({unit})",
                   ylabel="probability density")
        row[1].set(title=f"{name}\ntwo-point correlation", xlabel=f"distance r ({unit})",
                   ylabel="S2(r) = P(both pore)")
        if row[0].lines:
            row[0].legend(fontsize=8)
        else:
            row[0].text(0.5, 0.5, "no chord inside the image\n(every pore run touches its edge)",
                        ha="center", va="center", transform=row[0].transAxes)
        row[1].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    plots.save_figure(figure, path)
