"""How far a model's probabilities can be taken at their word: reliability diagrams, the expected
calibration error (ECE) and temperature scaling (Guo et al. 2017, "On calibration of modern
neural networks").

A pixel's confidence is the probability of the class the model predicts (the top label; for two
classes max(p, 1 - p)). Pixels are binned by confidence into equal-width bins over [0, 1]; a
calibrated model is right in a bin as often as its mean confidence there says, and the ECE is
the pixel-weighted mean |accuracy - confidence| over the bins. `Reliability` accumulates the
bins batch by batch (pixels the truth ignores count in no bin), so a whole test split or stack
never has to be held at once. `fit_temperature` finds the T that minimises the negative log
likelihood of softmax(logits / T) on validation pixels: T > 1 softens an overconfident model,
and dividing logits by T changes no prediction, only the probabilities. NumPy and matplotlib.
"""

from __future__ import annotations

import numpy as np

from coretf import labels as labels_lib
from coretf import plots
from coretf.plots import plt

BINS = 15  # Guo et al.'s choice


class Reliability:
    """Per-bin pixel counts, summed confidence and correct predictions (`update`), and the
    figures they give (`ece`, `summary`)."""

    def __init__(self, bins: int = BINS):
        self.bins = bins
        self.counts = np.zeros(bins, np.int64)
        self.confidence = np.zeros(bins, np.float64)
        self.correct = np.zeros(bins, np.float64)  # counts, summed by bincount as floats

    def update(self, probabilities: np.ndarray, labels: np.ndarray) -> None:
        """Adds pixels.

        Args:
            probabilities: (..., C) class probabilities, or (...) the probability of class 1 of
                two classes.
            labels: (...) true classes; `labels_lib.IGNORE` pixels are left out.
        """
        probabilities = np.asarray(probabilities, np.float64)
        labels = np.asarray(labels)
        if probabilities.shape == labels.shape:  # one probability: class 1 of two
            probabilities = np.stack([1.0 - probabilities, probabilities], axis=-1)
        if probabilities.shape[:-1] != labels.shape:
            raise ValueError(f"calibration: probabilities {probabilities.shape} do not fit labels {labels.shape}")
        valid = labels != labels_lib.IGNORE
        probabilities, labels = probabilities[valid], labels[valid].astype(np.int64)
        confidence = probabilities.max(-1)
        correct = probabilities.argmax(-1) == labels
        index = np.minimum((confidence * self.bins).astype(np.int64), self.bins - 1)
        self.counts += np.bincount(index, minlength=self.bins)
        self.confidence += np.bincount(index, confidence, minlength=self.bins)
        self.correct += np.bincount(index, correct, minlength=self.bins)

    def add(self, other: "Reliability") -> "Reliability":
        """Adds another accumulator's pixels (same bins) to this one; returns self."""
        if other.bins != self.bins:
            raise ValueError(f"calibration: {other.bins} bins cannot be added to {self.bins}")
        self.counts += other.counts
        self.confidence += other.confidence
        self.correct += other.correct
        return self

    @property
    def pixels(self) -> int:
        return int(self.counts.sum())

    def accuracy_per_bin(self) -> np.ndarray:
        """Share right in each bin (NaN in an empty bin)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.correct / self.counts

    def confidence_per_bin(self) -> np.ndarray:
        """Mean confidence in each bin (NaN in an empty bin)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.confidence / self.counts

    def ece(self) -> float:
        """Expected calibration error: sum over bins of (pixels / all) * |accuracy - confidence|;
        NaN without pixels."""
        if not self.pixels:
            return float("nan")
        used = self.counts > 0
        gap = np.abs(self.accuracy_per_bin()[used] - self.confidence_per_bin()[used])
        return float(np.sum(self.counts[used] / self.pixels * gap))

    def summary(self) -> dict:
        """{"ece", "pixels", "bins": [{"low", "high", "pixels", "accuracy", "confidence"}]}, JSON-able."""
        edges = np.linspace(0.0, 1.0, self.bins + 1)
        accuracy, confidence = self.accuracy_per_bin(), self.confidence_per_bin()
        return {"ece": self.ece(), "pixels": self.pixels, "bins": [
            {"low": float(edges[b]), "high": float(edges[b + 1]), "pixels": int(self.counts[b]),
             "accuracy": float(accuracy[b]) if self.counts[b] else None,
             "confidence": float(confidence[b]) if self.counts[b] else None} for b in range(self.bins)]}


def save_reliability_diagram(path: str, reliability: Reliability, title: str = "") -> None:
    """`calibration.png`: accuracy against confidence per bin (bars; the diagonal is a calibrated
    model), the gap to the diagonal shaded, and the share of pixels per bin below."""
    edges = np.linspace(0.0, 1.0, reliability.bins + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, 1.0 / reliability.bins
    accuracy = np.nan_to_num(reliability.accuracy_per_bin())
    confidence = reliability.confidence_per_bin()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    top.bar(centres, accuracy, width=width * 0.95, color="#4a7fb5", label="accuracy")
    used = reliability.counts > 0
    top.bar(centres[used], (confidence - accuracy)[used], bottom=accuracy[used], width=width * 0.95,
            color="#e07b39", alpha=0.5, label="gap to the mean confidence")
    top.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    top.legend(loc="upper left", fontsize=8)
    top.set_title(f"{title}\nECE {reliability.ece():.4f} over {reliability.pixels:,} pixels" if title
                  else f"ECE {reliability.ece():.4f} over {reliability.pixels:,} pixels", fontsize=9)
    share = reliability.counts / max(reliability.pixels, 1)
    bottom.bar(centres, share, width=width * 0.95, color="#888888")
    bottom.set_yscale("log")
    bottom.set_ylabel("share of pixels")
    bottom.set_xlabel("confidence (probability of the predicted class)")
    bottom.set_xlim(0, 1)
    plots.save_figure(figure, path)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) over the last axis; one logit is a sigmoid's (class 1 of two)."""
    logits = np.asarray(logits, np.float64) / temperature
    if logits.shape[-1] == 1:
        logits = np.concatenate([np.zeros_like(logits), logits], axis=-1)
    logits = logits - logits.max(-1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(-1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log likelihood of the true classes under softmax(logits / T)."""
    probabilities = softmax(logits, temperature)
    picked = np.take_along_axis(probabilities, labels[:, None].astype(np.int64), -1)[:, 0]
    return float(-np.mean(np.log(np.maximum(picked, 1e-12))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The T in `bounds` minimising `nll` of (N, C) logits (C = 1: one sigmoid logit) and (N,)
    labels (IGNORE left out), by golden-section search on log T (the NLL is convex in 1/T)."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    keep = labels != labels_lib.IGNORE
    logits, labels = logits[keep], labels[keep]
    if not len(labels):
        raise ValueError("calibration: no labelled pixels to fit a temperature on")
    low, high = np.log(bounds[0]), np.log(bounds[1])
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(logits, labels, np.exp(a)), nll(logits, labels, np.exp(b))
    for _ in range(60):  # the bracket shrinks to 0.618^60 of log(400): far below any figure's precision
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(logits, labels, np.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(logits, labels, np.exp(b))
    return float(np.exp((low + high) / 2))
