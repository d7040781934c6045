"""Pictures people look at: prediction grids and whole-section predictions (matplotlib, Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from coretf import io as coretf_io  # noqa: E402
from coretf.labels import IGNORE  # noqa: E402


def save_figure(figure, path: str, *, dpi: int = 110, tight: bool = True) -> None:
    """Writes a matplotlib figure as PNG, atomically, and closes it."""
    with coretf_io.atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=dpi, bbox_inches="tight" if tight else None, format="png")
    plt.close(figure)


def save_prediction_grid(path: str, images, masks, predicted, confidence, titles=None, *,
                         positive: str = "undisturbed", truth_name: str = "true mask",
                         title: str = "") -> None:
    """One row per patch or slice: input, true mask, predicted mask, confidence, with a colourbar.

    Args:
        path: PNG to write (atomically).
        images: (N, H, W, 3) float in [0, 1].
        masks, predicted: (N, H, W) labels, 1 = `positive`; ignored pixels (IGNORE) show grey.
        confidence: (N, H, W) float in [0, 1], P(`positive`).
        titles: optional N row labels (e.g. the item and its IoU).
        positive: the class the masks show white and the confidence is the probability of (the
            export's confidence class: undisturbed, pore, ice).
        truth_name: what the masks are ("true mask", or "weak label" when they are not the truth).
        title: figure title (e.g. what the rows are).
    """
    n = len(images)
    masks = [np.where(np.asarray(m) == IGNORE, 0.5, m) for m in masks]
    figure, axes = plt.subplots(n, 4, figsize=(9, 2.1 * n + 0.6), squeeze=False)
    shown = None
    for i in range(n):
        panels = [(images[i], None), (masks[i], "gray"), (predicted[i], "gray"), (confidence[i], "viridis")]
        for j, (panel, cmap) in enumerate(panels):
            shown_now = axes[i, j].imshow(panel, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            shown = shown_now if j == 3 else shown
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        if titles is not None:
            axes[i, 0].set_ylabel(titles[i], fontsize=8)
    ignored = any(np.any(np.asarray(m) == 0.5) for m in masks)
    names = ["input", f"{truth_name}\n(white = {positive}{', grey = ignored' if ignored else ''})",
             f"predicted\n(white = {positive})", f"confidence\nP({positive})"]
    for j, name in enumerate(names):
        axes[0, j].set_title(name, fontsize=9)
    bar = figure.colorbar(shown, ax=axes[:, 3].tolist(), fraction=0.08, pad=0.04)
    bar.set_label(f"P({positive})", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    save_figure(figure, path)


def save_section_prediction(path: str, image, confidence, predicted, truth=None, *, px_per_cm=None,
                            title: str = "") -> None:
    """A whole section stacked as photo / prediction overlay / confidence (/ truth).

    Args:
        path: PNG to write (atomically).
        image: (H, W, 3) float in [0, 1], depth along x.
        confidence: (H, W) probability of undisturbed sediment.
        predicted: (H, W) predicted labels, 1 = undisturbed.
        truth: optional (H, W) true labels.
        px_per_cm: when given, the x axis is labelled in cm from the image's left edge.
        title: figure title.
    """
    overlay = image.copy()
    red = np.array([1.0, 0.1, 0.1])
    overlay[predicted == 0] = 0.6 * overlay[predicted == 0] + 0.4 * red
    rows = [("photograph", image, None), ("predicted disturbance (red)", overlay, None),
            ("confidence: P(undisturbed)", confidence, "viridis")]
    if truth is not None:
        rows.append(("true mask (white = undisturbed)", truth, "gray"))
    height, width = confidence.shape
    figure, axes = plt.subplots(len(rows), 1, figsize=(14, 0.5 + len(rows) * 14 * height / width + 0.6 * len(rows)))
    extent = None if px_per_cm is None else (0, width / px_per_cm, height / px_per_cm, 0)
    for axis, (name, panel, cmap) in zip(axes, rows):
        shown = axis.imshow(panel, cmap=cmap, vmin=0, vmax=1, extent=extent, interpolation="nearest",
                            aspect="equal")
        axis.set_title(name, fontsize=9, loc="left")
        axis.set_yticks([])
        if cmap == "viridis":
            bar_axis = axis.inset_axes([1.005, 0.0, 0.008, 1.0])  # beside the panel, not shrinking it
            figure.colorbar(shown, cax=bar_axis).set_label("P(undisturbed)", fontsize=8)
    legend = [matplotlib.patches.Patch(color=0.6 * np.ones(3) + 0.4 * red, label="predicted disturbed")]
    axes[1].legend(handles=legend, loc="upper right", fontsize=8, framealpha=0.8)
    if px_per_cm is not None:
        axes[-1].set_xlabel("cm from image left edge (depth increases to the right)")
    if title:
        figure.suptitle(title, fontsize=10)
    save_figure(figure, path)


def save_reconstructions(path: str, layers: np.ndarray, reconstruction: np.ndarray, shown=(0, 2, 5)) -> None:
    """Held-out particles: focal layers `shown` and their reconstructions, one row per particle."""
    columns = [(f"layer {i + 1}", layers, i) for i in shown] + [
        (f"layer {i + 1}\nreconstructed", reconstruction, i) for i in shown]
    figure, axes = plt.subplots(len(layers), len(columns), figsize=(1.6 * len(columns), 1.7 * len(layers) + 0.5),
                                squeeze=False)
    for r in range(len(layers)):
        for c, (name, source, i) in enumerate(columns):
            axes[r, c].imshow(np.clip(source[r, i], 0, 1), interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(name, fontsize=8)
        error = float(np.mean((layers[r] - reconstruction[r]) ** 2))
        axes[r, 0].set_ylabel(f"particle {r + 1}\nMSE {error:.4f}", fontsize=8)
    figure.suptitle("held-out test particles: focal layers and the VAE's reconstructions", fontsize=9)
    save_figure(figure, path)


def with_legend(image: np.ndarray, entries: list[tuple[tuple[int, int, int], str]], title: str = "") -> np.ndarray:
    """A uint8 RGB picture with a white band on top: the title, then one colour swatch per line.

    For pictures written as images rather than plots (overlays, contact sheets), so that what the
    colours mean travels with them.
    """
    import cv2  # noqa: PLC0415 (only for pictures that are images)

    scale = float(np.clip(image.shape[1] / 1400, 0.4, 0.8))
    line = int(round(30 * scale)) + 6
    lines = ([("title", title)] if title else []) + list(entries)
    band = np.full((line * len(lines) + 4, image.shape[1], 3), 255, np.uint8)
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, int(round(1.6 * scale)))
    size = line - 10
    for i, entry in enumerate(lines):
        y = line * (i + 1) - 6
        if entry[0] == "title":
            cv2.putText(band, entry[1], (6, y), font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
            continue
        colour, label = entry
        cv2.rectangle(band, (6, y - size), (6 + size, y), tuple(int(c) for c in colour), -1)
        cv2.putText(band, label, (11 + size, y - 2), font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return np.concatenate([band, np.asarray(image, np.uint8)[..., :3]], axis=0)
