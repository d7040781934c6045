"""Plots of colour records (Hutton 2025 Figs. 12, 13 and 15), written atomically as PNG."""

from __future__ import annotations

import numpy as np

from coretf import plots
from coretf.plots import plt

_UNFILTERED = dict(color="0.6", lw=0.5, label="unfiltered")
_FILTERED = dict(color="k", lw=0.7, label="filtered")


def _broken(x: np.ndarray, *ys: np.ndarray, gap: float):
    """Inserts NaN where x jumps by more than `gap`, so lines break at splice gaps."""
    cut = np.flatnonzero(np.diff(x) > gap) + 1
    return [np.insert(np.asarray(v, np.float64), cut, np.nan) for v in (x,) + ys]


def save_section_plot(path: str, depth_cm: np.ndarray, l_unfiltered: np.ndarray,
                      l_filtered: np.ndarray, l_sd: np.ndarray, kept_fraction: np.ndarray,
                      *, min_kept: float, title: str = "") -> None:
    """Unfiltered and filtered L* against depth (Fig. 13), over the kept fraction.

    Args:
      path: PNG to write.
      depth_cm: (N,) depth of each line, cm.
      l_unfiltered, l_filtered, l_sd: (N,) L* over the whole line, over kept pixels (NaN where
        filtered out) and its SD.
      kept_fraction: (N,) fraction of each line kept.
      min_kept: the 90 % rule's threshold, drawn as a line.
      title: figure title.
    """
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 4.8), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    top.plot(depth_cm, l_unfiltered, **_UNFILTERED)
    top.fill_between(depth_cm, l_filtered - l_sd, l_filtered + l_sd, color="C0", alpha=0.25,
                     lw=0, label="filtered ± SD")
    top.plot(depth_cm, l_filtered, **_FILTERED)
    top.set_ylabel("L*")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(title, fontsize=10)
    bottom.plot(depth_cm, kept_fraction, color="C2", lw=0.6)
    bottom.axhline(min_kept, color="C3", lw=0.6, ls="--")
    bottom.set_ylim(0, 1.02)
    bottom.set_ylabel("kept")
    bottom.set_xlabel("depth (cm)")
    plots.save_figure(figure, path)


def save_xcorr_plot(path: str, table: np.ndarray, *, title: str = "") -> None:
    """Cross-correlation and differenced cross-correlation of the two halves (Fig. 15).

    Args:
      path: PNG to write.
      table: (2K + 1, 5) `resolution.XCORR_COLUMNS` table.
      title: figure title.
    """
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    for axis, (u, f), name in zip(axes, ((1, 2), (3, 4)),
                                  ("cross-correlation", "differenced cross-correlation")):
        axis.plot(table[:, 0], table[:, u], **{**_UNFILTERED, "lw": 1.0})
        axis.plot(table[:, 0], table[:, f], **{**_FILTERED, "lw": 1.0})
        axis.axvline(0, color="0.8", lw=0.5)
        axis.set_xlabel("lag (cm)")
        axis.set_title(name, fontsize=10)
    axes[0].set_ylabel("correlation of the two halves' L*")
    axes[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    plots.save_figure(figure, path)


def save_composite_plot(path: str, depth_m: np.ndarray, l_unfiltered: np.ndarray,
                        l_filtered: np.ndarray, l_sd: np.ndarray, *, line_m: float,
                        title: str = "") -> None:
    """Unfiltered and filtered L* against composite depth (Fig. 12); lines break at gaps.

    Args:
      path: PNG to write.
      depth_m: (M,) composite depth, m, increasing.
      l_unfiltered, l_filtered, l_sd: (M,) as in `save_section_plot`.
      line_m: the record's largest line spacing, m; jumps over 1.5 times it are gaps.
      title: figure title.
    """
    depth_m, l_unfiltered, l_filtered, l_sd = _broken(depth_m, l_unfiltered, l_filtered, l_sd,
                                                      gap=1.5 * line_m)
    figure, axis = plt.subplots(figsize=(14, 4))
    axis.plot(depth_m, l_unfiltered, **_UNFILTERED)
    axis.fill_between(depth_m, l_filtered - l_sd, l_filtered + l_sd, color="C0", alpha=0.25,
                      lw=0, label="filtered ± SD")
    axis.plot(depth_m, l_filtered, **_FILTERED)
    axis.set_xlabel("composite depth (m)")
    axis.set_ylabel("L*")
    axis.legend(loc="upper right", fontsize=8)
    axis.set_title(title, fontsize=10)
    plots.save_figure(figure, path)
