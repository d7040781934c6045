"""Pore-segmentation figures against the threshold, and the cross-rock-type table (Lavrukhin et al., §5).

The paper measures logloss, IoU, accuracy, precision, recall and PR-AUC for every (model, stack)
pair at several thresholds and finds a wide plateau of thresholds with the same quality (§5.1).
`ThresholdCounts` accumulates a stack's pore probabilities slice by slice into two histograms
(pore and solid pixels, 1000 bins), from which every threshold's confusion counts follow exactly
for thresholds on the bin edges; memory stays at two histograms whatever the stack size.

Logloss and PR-AUC are properties of the probabilities, not of a threshold: the sweep repeats
their single value at every threshold (flat lines on the plot). PR-AUC is the average precision
over the 1000 bin thresholds.

`write_tables` and `save_heatmap` turn the per-(model, stack) figures into the paper's table
(CSV and Markdown, in-sample cells marked) and a heat map; `claims` checks the paper's two
conclusions on them.
"""

from __future__ import annotations

import numpy as np

from coretf import io as coretf_io
from coretf import plots
from coretf.labels import IGNORE

METRICS = ("logloss", "iou", "accuracy", "precision", "recall", "pr_auc")
HIGHER_IS_BETTER = {"logloss": False, "iou": True, "accuracy": True, "precision": True,
                    "recall": True, "pr_auc": True}
BINS = 1000
DEFAULT_THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 3)
CLIP = 1e-7  # probabilities are clipped to [CLIP, 1 - CLIP] for the logloss


class ThresholdCounts:
    """Histograms of pore probability for pore and solid pixels, and the summed logloss.

    Example:
        counts = ThresholdCounts()
        for probability, truth in slices:       # (H, W) float in [0, 1], (H, W) 0/1
            counts.update(probability, truth)
        counts.sweep([0.3, 0.5])["iou"]         # IoU at each threshold
    """

    def __init__(self, bins: int = BINS):
        self.bins = bins
        self.positive = np.zeros(bins, np.int64)
        self.negative = np.zeros(bins, np.int64)
        self.log_loss_sum = 0.0

    def update(self, probability: np.ndarray, truth: np.ndarray) -> None:
        """Adds one slice: `probability` of pore (any shape, in [0, 1]) and `truth` (1 = pore, 0 =
        solid, `coretf.labels.IGNORE` = outside the rock or not labelled: left out)."""
        probability = np.asarray(probability, np.float64).ravel()
        truth = np.asarray(truth).ravel()
        if probability.shape != truth.shape:
            raise ValueError(f"probabilities ({probability.size} px) and labels ({truth.size} px) differ")
        counted = truth != IGNORE
        probability, truth = probability[counted], truth[counted].astype(bool)
        index = np.clip((probability * self.bins).astype(np.int64), 0, self.bins - 1)
        self.positive += np.bincount(index[truth], minlength=self.bins)
        self.negative += np.bincount(index[~truth], minlength=self.bins)
        clipped = np.clip(probability, CLIP, 1 - CLIP)
        self.log_loss_sum += float(-np.log(np.where(truth, clipped, 1 - clipped)).sum())

    @property
    def pixels(self) -> int:
        return int(self.positive.sum() + self.negative.sum())

    def _at_least(self, counts: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        """Number of pixels with probability >= each threshold (thresholds on bin edges)."""
        tail = np.concatenate([np.cumsum(counts[::-1])[::-1], [0]])
        return tail[np.clip(np.rint(np.asarray(thresholds) * self.bins).astype(int), 0, self.bins)]

    def pr_auc(self) -> float:
        """Average precision: sum over bin thresholds, descending, of precision x recall step."""
        tp = np.cumsum(self.positive[::-1])
        fp = np.cumsum(self.negative[::-1])
        if tp[-1] == 0:
            return float("nan")
        predicted = tp + fp
        precision = np.divide(tp, predicted, out=np.ones(self.bins), where=predicted > 0)
        recall_step = np.diff(np.concatenate([[0], tp])) / tp[-1]
        return float(np.sum(precision * recall_step))

    def sweep(self, thresholds=DEFAULT_THRESHOLDS) -> dict[str, np.ndarray]:
        """Every metric at every threshold (pore predicted where probability >= threshold).

        Returns:
            {"threshold": (T,), "logloss", "iou", "accuracy", "precision", "recall", "pr_auc":
            (T,) float64}; a ratio with a zero denominator is NaN (e.g. precision when nothing is
            predicted pore).
        """
        if self.pixels == 0:
            raise ValueError("no pixels were added")
        thresholds = np.asarray(thresholds, np.float64)
        tp = self._at_least(self.positive, thresholds).astype(np.float64)
        fp = self._at_least(self.negative, thresholds).astype(np.float64)
        fn = self.positive.sum() - tp
        tn = self.negative.sum() - fp
        with np.errstate(invalid="ignore", divide="ignore"):
            figures = {
                "threshold": thresholds,
                "logloss": np.full(thresholds.shape, self.log_loss_sum / self.pixels),
                "iou": tp / (tp + fp + fn),
                "accuracy": (tp + tn) / self.pixels,
                "precision": tp / (tp + fp),
                "recall": tp / (tp + fn),
                "pr_auc": np.full(thresholds.shape, self.pr_auc()),
            }
        return figures

    def at(self, threshold: float) -> dict[str, float]:
        """The six metrics at one threshold."""
        return {k: float(v[0]) for k, v in self.sweep([threshold]).items() if k != "threshold"}


def plateau(sweep: dict[str, np.ndarray], metric: str = "iou", tolerance: float = 0.01) -> tuple[float, float]:
    """The threshold range over which `metric` stays within `tolerance` of its best value."""
    values = np.asarray(sweep[metric])
    best = np.nanmax(values) if HIGHER_IS_BETTER[metric] else np.nanmin(values)
    good = np.abs(values - best) <= tolerance
    return float(np.asarray(sweep["threshold"])[good].min()), float(np.asarray(sweep["threshold"])[good].max())


def save_threshold_plot(path: str, sweeps: dict[str, dict[str, np.ndarray]], title: str = "") -> None:
    """Metrics against threshold, one panel per metric, one line per stack (the paper's Fig. 3).

    Args:
        path: PNG to write (atomically).
        sweeps: {stack name: `ThresholdCounts.sweep` result}.
        title: figure title.
    """
    import matplotlib.pyplot as plt

    # One colour family per rock type (the part of the name before its number), one line style
    # per stack within it, so 11 stacks stay apart.
    families = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys")
    groups = {}
    for name in sweeps:
        groups.setdefault(name.rsplit("_", 1)[0], []).append(name)
    styles = {}
    for g, members in enumerate(groups.values()):
        colours = plt.get_cmap(families[g % len(families)])(np.linspace(0.95, 0.5, len(members)))
        for k, name in enumerate(members):
            styles[name] = {"color": colours[k], "linestyle": ("-", "--", ":", "-.")[k % 4]}
    figure, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharex=True)
    for axis, metric in zip(axes.ravel(), METRICS):
        for name, sweep in sweeps.items():
            axis.plot(sweep["threshold"], sweep[metric], label=name, linewidth=1.2, **styles[name])
        axis.set_title(metric + ("" if metric not in ("logloss", "pr_auc") else " (no threshold)"),
                       fontsize=10)
        axis.set_xlabel("threshold on P(pore)")
        axis.grid(alpha=0.3)
    handles, names = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
                  title="stack")
    figure.suptitle(title)
    plots.save_figure(figure, path)


def _cell(value: float | None, in_sample: bool) -> str:
    return ("n/a" if value is None or not np.isfinite(value) else f"{value:.3f}") + ("*" if in_sample else "")


def write_tables(rows: list[dict], csv_path: str, markdown_path: str, *, models: list[str],
                 stacks: list[str], threshold: float, header: str = "") -> None:
    """The cross-rock-type table: CSV (one row per model and stack) and Markdown (one table per metric).

    Args:
        rows: dicts with "model", "stack", "rock_type", "in_sample" and the METRICS.
        csv_path, markdown_path: files to write (atomically).
        models: column order (the 7 models); stacks: row order (all stacks).
        threshold: the threshold the figures were taken at (stated in the Markdown).
        header: Markdown text placed before the tables.
    """
    lookup = {(r["model"], r["stack"]): r for r in rows}
    missing = [(m, s) for m in models for s in stacks if (m, s) not in lookup]
    if missing:
        raise ValueError(f"table: no figures for {missing[:3]}{'...' if len(missing) > 3 else ''}")
    coretf_io.write_csv(csv_path, ["model", "stack", "rock_type", "in_sample", "threshold", *METRICS], [
        {**{k: row[k] for k in ("model", "stack", "rock_type", "in_sample")}, "threshold": threshold,
         **{m: "" if row[m] is None else f"{row[m]:.6g}" for m in METRICS}}
        for row in (lookup[(model, stack)] for model in models for stack in stacks)])
    lines = [header, f"Threshold {threshold:g} on P(pore); `*` = the stack is in the model's "
             "training data (in-sample); the out-of-sample mean leaves those cells out.", ""]
    for metric in METRICS:
        lines += [f"### {metric}", "", "| stack | rock type | " + " | ".join(models) + " |",
                  "|---|---|" + "---:|" * len(models)]
        for stack in stacks:
            cells = [_cell(lookup[(m, stack)][metric], lookup[(m, stack)]["in_sample"]) for m in models]
            lines.append(f"| {stack} | {lookup[(models[0], stack)]['rock_type']} | " + " | ".join(cells) + " |")
        for label, keep in (("mean", lambda r: True), ("out-of-sample mean", lambda r: not r["in_sample"])):
            means = [mean_of([lookup[(m, s)][metric] for s in stacks if keep(lookup[(m, s)])])
                     for m in models]
            lines.append(f"| **{label}** | | " + " | ".join(f"**{v:.3f}**" for v in means) + " |")
        lines.append("")
    coretf_io.write_text(markdown_path, "\n".join(lines))


def save_heatmap(path: str, rows: list[dict], *, models: list[str], stacks: list[str],
                 metrics: tuple[str, ...] = ("iou", "logloss", "pr_auc")) -> None:
    """Heat map of stacks (rows) x models (columns), one panel per metric; in-sample cells boxed."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    lookup = {(r["model"], r["stack"]): r for r in rows}
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.8 * len(metrics), 0.42 * len(stacks) + 2.2),
                                squeeze=False, layout="constrained")
    for axis, metric in zip(axes[0], metrics):
        values = np.array([[lookup[(m, s)][metric] for m in models] for s in stacks], dtype=np.float64)
        cmap = "viridis" if HIGHER_IS_BETTER[metric] else "viridis_r"
        image = axis.imshow(values, cmap=cmap, aspect="auto")
        for i, stack in enumerate(stacks):
            for j, model in enumerate(models):
                red, green, blue, _ = image.cmap(image.norm(values[i, j]))  # text readable on the cell
                axis.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                          color="black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white")
                if lookup[(model, stack)]["in_sample"]:
                    axis.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red",
                                             linewidth=1.5))
        axis.set_xticks(range(len(models)), models, rotation=60, ha="right", fontsize=7)
        axis.set_yticks(range(len(stacks)), stacks, fontsize=7)
        axis.set_title(f"{metric} (red box: in-sample)", fontsize=9)
        figure.colorbar(image, ax=axis, fraction=0.046)
    plots.save_figure(figure, path)


def mean_of(values) -> float:
    """Mean ignoring NaN and None; NaN (without a warning) when nothing is left."""
    values = np.asarray([np.nan if v is None else v for v in values], np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def claims(rows: list[dict], *, specific: dict[str, str], aggregate: str, metric: str = "iou") -> dict:
    """Checks the paper's two conclusions on out-of-sample stacks.

    Args:
        rows: as `write_tables`.
        specific: {rock type: name of the model trained on that type alone}.
        aggregate: name of the model trained on all types.
        metric: a higher-is-better metric.

    Returns:
        {"specific": {rock type: {"own": mean on own type, "other": mean on other types,
        "rank_on_own": rank of the specific model among all models on its own type (1 = best)}},
        "model_means": {model: out-of-sample mean}, "aggregate_rank": rank of the aggregate model
        by out-of-sample mean (1 = best)}.
    """
    out = [r for r in rows if not r["in_sample"]]
    models = sorted({r["model"] for r in rows})
    result = {"metric": metric, "specific": {}}
    for rock_type, model in specific.items():
        own = [r[metric] for r in out if r["model"] == model and r["rock_type"] == rock_type]
        other = [r[metric] for r in out if r["model"] == model and r["rock_type"] != rock_type]
        on_own = {m: mean_of([r[metric] for r in out if r["model"] == m and r["rock_type"] == rock_type])
                  for m in models}
        ranking = sorted(on_own, key=lambda m: -np.nan_to_num(on_own[m], nan=-np.inf))
        result["specific"][rock_type] = {"model": model, "own": mean_of(own),
                                         "other": mean_of(other),
                                         "rank_on_own": ranking.index(model) + 1,
                                         "best_on_own": ranking[0]}
    means = {m: mean_of([r[metric] for r in out if r["model"] == m]) for m in models}
    ranking = sorted(means, key=lambda m: -np.nan_to_num(means[m], nan=-np.inf))
    result.update(model_means=means, aggregate_rank=ranking.index(aggregate) + 1, best_mean=ranking[0])
    return result
