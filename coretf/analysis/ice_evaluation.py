"""Physical validation of ice-core segmentations: Table II, Fig. 10 and Fig. 11 of Bagherzadeh et al. 2023.

Per specimen and per method, the network on the low-res slices against the thresholding methods:

- `gmm_high`: the weak label itself (GMM on two high-res slices, 2x2x2 mean >= 0.5);
- `otsu_low`, `gmm_low`: Otsu and the GMM on the low-res slice;
- `network`: the U-Net on the low-res slice (probability >= 0.5).

Scores (F1, IoU and accuracy of the ice class, inside the field of view) on the test split
against the weak label, and for synthetic specimens against the exact truth. The paper counts
the black pixels outside the specimen too, which inflates accuracy; here they are left out.
Physical figures: ice fraction and density (ice fraction x 0.917 g/cm3), the specimen's weight
(ice voxels over ALL its low-res slices x 0.917 g/cm3 x voxel volume) and its error against the
measured weight, and per test slice the 2-D specific surface area (ice/air boundary length per
ice area, mm^-1; the boundary length is the count of 4-neighbour ice/air pixel edges x pi/4,
Crofton's unbiased estimate for a digitised curve) and the mean intercept (chord) length of ice
along rows and columns (mm).

Slices stream through `Validation.add`, so memory stays a few slices whatever the specimen size.
The command is `python -m coretf.analysis.ice_validation`; the ice_ct job calls `validate` after
training.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable

import cv2
import numpy as np

from coretf import calibration
from coretf import io as coretf_io
from coretf import labels as labels_lib
from coretf.synthetic.ice import ICE_DENSITY_G_CM3

METHODS = ("gmm_high", "otsu_low", "gmm_low", "network")
METHOD_NAMES = {"gmm_high": "GMM on high-res (weak label)", "otsu_low": "Otsu on low-res",
                "gmm_low": "GMM on low-res", "network": "U-Net on low-res"}


def confusion(predicted: np.ndarray, reference: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """(tp, fp, fn, tn) pixel counts of the ice class inside the field of view, int64 (4,)."""
    p, r, f = predicted.astype(bool), reference.astype(bool), fov.astype(bool)
    tp = np.count_nonzero(p & r & f)
    fp = np.count_nonzero(p & ~r & f)
    fn = np.count_nonzero(~p & r & f)
    return np.array([tp, fp, fn, np.count_nonzero(f) - tp - fp - fn], np.int64)


def scores(counts: np.ndarray) -> dict[str, float]:
    """F1, IoU and accuracy (Eqs. 6-8 of the paper) from (tp, fp, fn, tn); NaN when undefined."""
    tp, fp, fn, tn = (float(c) for c in counts)

    def ratio(a, b):
        return a / b if b else float("nan")

    return {"f1": ratio(2 * tp, 2 * tp + fp + fn), "iou": ratio(tp, tp + fp + fn),
            "accuracy": ratio(tp + tn, tp + fp + fn + tn)}


def slice_measures(ice: np.ndarray, fov: np.ndarray, voxel_um: float) -> dict[str, float]:
    """Microstructure of one segmented slice, inside the field of view.

    Args:
        ice: (H, W) bool or 0/1 mask, 1 = ice.
        fov: (H, W) field-of-view mask.
        voxel_um: pixel size in micrometres.

    Returns:
        {"ice_fraction", "density_g_cm3", "ssa_2d_per_mm" (boundary length / ice area),
        "intercept_mm" (mean ice chord length along rows and columns)}; NaN where undefined.
    """
    ice, fov = ice.astype(bool) & fov.astype(bool), fov.astype(bool)
    pixels = np.count_nonzero(fov)
    area = np.count_nonzero(ice)
    edges = 0
    runs = 0
    for axis in (0, 1):
        a = np.moveaxis(ice, axis, 0)
        f = np.moveaxis(fov, axis, 0)
        both = f[1:] & f[:-1]
        edges += np.count_nonzero((a[1:] != a[:-1]) & both)
        runs += np.count_nonzero(a[1:] & ~a[:-1]) + np.count_nonzero(a[0])  # chord starts
    pixel_mm = voxel_um / 1000.0
    length_mm = np.pi / 4.0 * edges * pixel_mm
    fraction = area / pixels if pixels else float("nan")
    return {"ice_fraction": fraction, "density_g_cm3": fraction * ICE_DENSITY_G_CM3,
            "ssa_2d_per_mm": length_mm / (area * pixel_mm**2) if area else float("nan"),
            "intercept_mm": 2 * area / runs * pixel_mm if runs else float("nan")}


def boundary(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the ice pixels with an air 4-neighbour."""
    mask = mask.astype(np.uint8)
    return (mask > 0) & (cv2.erode(mask, np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8),
                                   borderType=cv2.BORDER_REPLICATE) == 0)


@dataclasses.dataclass
class _Specimen:
    weight_g: float
    voxel_um: float
    has_truth: bool
    test_slices: int = 0
    ice_voxels: dict = dataclasses.field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    vs_weak: dict = dataclasses.field(default_factory=lambda: {m: np.zeros(4, np.int64) for m in METHODS})
    vs_truth: dict = dataclasses.field(default_factory=lambda: {m: np.zeros(4, np.int64) for m in METHODS})
    per_slice: list = dataclasses.field(default_factory=list)
    overlay: dict | None = None


class Validation:
    """Accumulates Table II, Fig. 10 and Fig. 11 over a stream of low-res slices.

    Example:
        validation = Validation()
        for example in examples:  # dicts of the ice_ct builder's features (numpy)
            validation.add(example, network_probability(example["image"]))
        validation.write(output_dir)
    """

    def __init__(self, reliability: calibration.Reliability | None = None):
        self.specimens: dict[str, _Specimen] = {}
        # The network's probabilities against the weak labels in the field of view, test slices.
        self.reliability = reliability if reliability is not None else calibration.Reliability()

    def add(self, example: dict, probability: np.ndarray, split: str) -> None:
        """Adds one slice.

        Args:
            example: the ice_ct features of one slice ("image", "weak_label", "fov", "gmm_low",
                "otsu_low", "truth", "has_truth", "specimen_id", "low_voxel_um", "weight_g"),
                images (H, W) or (H, W, 1).
            probability: (H, W) float network probability of ice.
            split: the slice's split; scores and per-slice figures use "test" only.
        """
        def plane(name):
            value = np.asarray(example[name])
            return value[..., 0] if value.ndim == 3 else value

        specimen_id = example["specimen_id"]
        specimen_id = specimen_id.decode() if isinstance(specimen_id, bytes) else str(specimen_id)
        record = self.specimens.setdefault(specimen_id, _Specimen(
            float(example["weight_g"]), float(example["low_voxel_um"]), bool(example["has_truth"])))
        fov = plane("fov").astype(bool)
        masks = {"gmm_high": plane("weak_label"), "otsu_low": plane("otsu_low"),
                 "gmm_low": plane("gmm_low"), "network": np.asarray(probability) >= 0.5}
        masks = {m: v.astype(bool) & fov for m, v in masks.items()}
        for method, mask in masks.items():
            record.ice_voxels[method] += int(np.count_nonzero(mask))
        if split != "test":
            return
        record.test_slices += 1
        self.reliability.update(probability, np.where(fov, masks["gmm_high"], labels_lib.IGNORE))
        truth = plane("truth")
        for method, mask in masks.items():
            record.vs_weak[method] += confusion(mask, masks["gmm_high"], fov)
            if record.has_truth:
                record.vs_truth[method] += confusion(mask, truth, fov)
        record.per_slice.append({m: slice_measures(masks[m], fov, record.voxel_um) for m in METHODS})
        if record.overlay is None:  # Fig. 11 shows the first test slice
            record.overlay = {"image": plane("image"), "weak": masks["gmm_high"],
                              "network": masks["network"], "slice": int(example["slice_index"])}

    def table(self) -> list[dict]:
        """Table II rows: one per specimen and method."""
        voxel_cm3 = {s: (r.voxel_um * 1e-4) ** 3 for s, r in self.specimens.items()}
        rows = []
        for specimen_id, record in self.specimens.items():
            if not record.test_slices:
                raise ValueError(f"specimen {specimen_id!r}: no test slice")
            for method in METHODS:
                weight = record.ice_voxels[method] * ICE_DENSITY_G_CM3 * voxel_cm3[specimen_id]
                fractions = [s[method]["ice_fraction"] for s in record.per_slice]
                row = {"specimen": specimen_id, "method": method, "test_slices": record.test_slices,
                       "ice_fraction": float(np.nanmean(fractions)),
                       "weight_g": weight, "measured_weight_g": record.weight_g,
                       "weight_error_pct": 100.0 * (weight - record.weight_g) / record.weight_g}
                row.update({f"{k}_vs_weak": v for k, v in scores(record.vs_weak[method]).items()})
                truth = scores(record.vs_truth[method]) if record.has_truth else \
                    dict.fromkeys(("f1", "iou", "accuracy"), float("nan"))
                row.update({f"{k}_vs_truth": v for k, v in truth.items()})
                row["density_g_cm3"] = row["ice_fraction"] * ICE_DENSITY_G_CM3
                rows.append(row)
        return rows

    def write(self, output_dir: str) -> list[dict]:
        """Writes table2.csv, table2.md, fig10_scatter.png, fig11_overlays.png and
        calibration.png (the network against the weak labels); returns the rows."""
        rows = self.table()
        os.makedirs(output_dir, exist_ok=True)
        calibration.save_reliability_diagram(os.path.join(output_dir, "calibration.png"), self.reliability,
                                             title="network ice probability against the weak labels, test slices")
        coretf_io.write_csv(os.path.join(output_dir, "table2.csv"), list(rows[0]), rows)
        coretf_io.write_text(os.path.join(output_dir, "table2.md"), markdown_table(rows))
        save_scatter(os.path.join(output_dir, "fig10_scatter.png"),
                     {s: r.per_slice for s, r in self.specimens.items()})
        from coretf import plots  # noqa: PLC0415 (matplotlib only when a figure is drawn)

        coretf_io.write_image(os.path.join(output_dir, "fig11_overlays.png"), plots.with_legend(
            self.overlays(), [((0, 220, 0), "weak label (GMM, high-res) boundary"),
                              ((255, 30, 30), "network boundary")],
            title="first test slice, centre, left to right: " + ", ".join(self.specimens)))
        return rows

    def overlays(self, side: int = 96, zoom: int = 4) -> np.ndarray:
        """Fig. 11: per specimen a central crop (at most `side` px) of its first test slice, the
        weak-label boundary in green and the network's in red on top, magnified `zoom` times;
        the panels side by side, 8 px apart: (<= side*zoom, ~n*side*zoom, 3) uint8."""
        crops = []
        for record in self.specimens.values():
            o = record.overlay
            h, w = o["image"].shape
            r0, c0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
            crop = np.s_[r0:r0 + side, c0:c0 + side]
            rgb = np.repeat(o["image"][crop][..., None], 3, axis=2)
            rgb[boundary(o["weak"][crop])] = (0, 220, 0)
            rgb[boundary(o["network"][crop])] = (255, 30, 30)
            crops.append(rgb)
        height = max(c.shape[0] for c in crops)
        panels = []
        for rgb in crops:
            rgb = np.pad(rgb, ((0, height - rgb.shape[0]), (0, 0), (0, 0)), constant_values=255)
            panels.append(np.repeat(np.repeat(rgb, zoom, 0), zoom, 1))
            panels.append(np.full((height * zoom, 8, 3), 255, np.uint8))
        return np.concatenate(panels[:-1], axis=1)


def save_scatter(path: str, per_slice: dict[str, list[dict]]) -> None:
    """Fig. 10: per specimen (columns), predicted vs ground-truth (weak label) density and 2-D SSA
    per test slice (rows), for the network (red) and Otsu on low-res (grey), with the 1:1 line."""
    from coretf import plots  # matplotlib only when a figure is drawn

    quantities = (("density_g_cm3", "density (g/cm$^3$)"), ("ssa_2d_per_mm", "2-D SSA (mm$^{-1}$)"))
    figure, axes = plots.plt.subplots(2, len(per_slice), figsize=(3.3 * len(per_slice), 6.4), squeeze=False)
    for column, (specimen_id, slices) in enumerate(per_slice.items()):
        for row, (key, label) in enumerate(quantities):
            ax = axes[row, column]
            truth = np.array([s["gmm_high"][key] for s in slices])
            for method, colour in (("otsu_low", "0.6"), ("network", "tab:red")):
                ax.scatter(truth, [s[method][key] for s in slices], s=12, c=colour,
                           label=METHOD_NAMES[method])
            values = np.concatenate([truth] + [[s[m][key] for s in slices]
                                               for m in ("otsu_low", "network")])
            values = values[np.isfinite(values)]
            if values.size:
                lo, hi = values.min(), values.max()
                pad = 0.05 * (hi - lo) + 1e-6
                ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "b-", lw=0.8)
            ax.set_xlabel(f"ground truth {label}", fontsize=8)
            ax.set_ylabel(f"predicted {label}", fontsize=8)
            ax.set_title(f"{specimen_id}", fontsize=9)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    figure.tight_layout()
    plots.save_figure(figure, path, tight=False)


def markdown_table(rows: list[dict], sd_rows: list[dict] | None = None) -> str:
    """Table II as Markdown: per specimen and method, scores in %, weight error in %; with
    `sd_rows` (the SDs of an ensemble's or k-fold's members, `coretf.runner.mean_and_sd`) each
    figure as mean +- SD."""
    def cell(value, sd, spec=".1f", scale=100.0):
        if value is None or not np.isfinite(value):
            return "n/a"
        text = f"{scale * value:{spec}}"
        return text if sd is None or not np.isfinite(sd) else f"{text} +- {scale * sd:{spec.lstrip('+')}}"

    lines = ["| specimen | method | test slices | F1 vs weak | IoU vs weak | acc. vs weak | F1 vs truth "
             "| IoU vs truth | acc. vs truth | density g/cm3 | weight g | WE % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for index, row in enumerate(rows):
        sd = sd_rows[index] if sd_rows else {}
        lines.append(
            f"| {row['specimen']} | {METHOD_NAMES[row['method']]} | {row['test_slices']:.0f} | "
            + " | ".join(cell(row[f"{k}_{ref}"], sd.get(f"{k}_{ref}")) for ref in ("vs_weak", "vs_truth")
                         for k in ("f1", "iou", "accuracy"))
            + f" | {cell(row['density_g_cm3'], sd.get('density_g_cm3'), '.3f', 1.0)}"
            + f" | {cell(row['weight_g'], sd.get('weight_g'), '.4g', 1.0)}"
            + f" | {cell(row['weight_error_pct'], sd.get('weight_error_pct'), '+.1f', 1.0)} |")
    return "\n".join(lines) + "\n"


def validate(examples: Iterable[tuple[dict, str]], predict: Callable[[np.ndarray], np.ndarray],
             output_dir: str, progress: bool = True,
             reliability: calibration.Reliability | None = None) -> list[dict]:
    """Runs `predict` on every slice and writes Table II and the figures to `output_dir`.

    Args:
        examples: (features dict of the ice_ct builder, split) pairs.
        predict: maps a (H, W) float32 image in [0, 1] to a (H, W) ice probability.
        output_dir: where the table and figures go.
        reliability: filled with the network's calibration against the weak labels (test slices).

    Returns:
        The Table II rows.
    """
    from tqdm.auto import tqdm

    validation = Validation(reliability)
    for example, split in tqdm(examples, desc="validation", unit="slice", disable=not progress):
        image = coretf_io.to_float(np.asarray(example["image"])[..., 0])
        validation.add(example, predict(image), split)
    return validation.write(output_dir)


def saved_model_predictor(export_dir: str, tile: int | None = None, batch_size: int = 4):
    """(H, W) slice -> ice probability through an exported ice_ct SavedModel, tiled.

    Needs only TensorFlow and the SavedModel (no coretf model code); the tile side defaults to
    the one the model was trained for (its metadata's "tile_size").

    Raises:
        ValueError: the SavedModel is not an ice_ct export.
    """
    from coretf import serving
    from coretf.tiling import predict_tiled

    served = serving.load(export_dir, job="ice_ct")
    tile = tile or int(served.metadata["tile_size"])

    def predict(batch):
        return served(batch)["confidence"][..., None]

    return lambda image: predict_tiled(predict, image[..., None], tile=tile,
                                       overlap=min(32, tile // 4), batch_size=batch_size)[..., 0]
