"""The job interface: what a job supplies, and what `coretf.runner` does with it for every job.

In the spirit of tensorflow/models' `official/core/base_task.py`, a job is a class that knows
one kind of data and model; the runner owns the loop. A job supplies

- `config_class`: its configuration dataclass (a `TrainConfig` subclass; `coretf.flags` makes
  one flag per field, so the job's flags appear in `python -m coretf.train` by themselves);
- `build_inputs(model_dir)`: the training and validation `tf.data` pipelines and steps per epoch;
- `build_model()`, `build_optimizer(steps)`, `build_loss()`, `build_metrics()`;
- `monitor` / `monitor_mode`: the epoch log that picks the best epoch (`keep = "best"`), or
  `keep = "last"` for a job without a validation split (rock_ct: the paper has none);
- `callbacks(model_dir)`: its TensorBoard pictures;
- `evaluate(model, model_dir)`: its test figures (merged into metrics.json) and figures on disk;
- `exports(model, metrics)`: the SavedModels to write (`coretf.export.SavedModelSpec`), each with
  its metadata, including the input transform an image needs before it reaches the model;
- `summary_lines(metrics)`: what the console shows after training.

`SegmentationJob` is the interface of the jobs whose model maps images to per-pixel class logits
(sediment_cores, ice_ct, rock_ct): their class meaning, metrics, size checks and export metadata.

The runner (`coretf.runner.run`) then does the same for every job: `config.json`, seed and dtype
policy, strategy scope, compile, resume after an interruption (exactly: a killed and rerun run
ends as an uninterrupted one), the standard callbacks (one checkpoint per epoch, the best epoch,
TensorBoard, history.csv, the training state), fit, reload of the best epoch,
evaluation, `metrics.json` and the exports.

What every model directory holds (the contract readers may rely on):
  flags.txt, config.json     the command's flags; the resolved configuration
  checkpoints/               epoch_<n>.weights.h5 per epoch; state.json + state_<n>.weights.h5,
                             the last finished epoch's training state (`callbacks.TrainingState`)
  best.weights.h5, best.json, history.csv, logs/ (TensorBoard: train, validation, images)
  model.keras                the kept model (architecture and weights), what --init_from reads
  metrics.json               "dataset", "epochs", "steps_per_epoch", "best_epoch", "validation"
                             (the best epoch's validation logs, jobs that keep the best epoch),
                             "train_seconds", "evaluate_seconds", "final_train_loss",
                             "dtype_policy", "provenance" (coretf.provenance.record), and what
                             the job's `evaluate` returns ("test", ...)
  test_predictions.png       the job's pictures of held-out data
  export/ (and further exports), SavedModels: see `coretf.export` for the metadata they carry.

Adding a job is one module `coretf/jobs/<name>.py` with a `Job` subclass whose `name` is the
module name; nothing else changes (`job_names()` finds the modules, `get_job` imports them).
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import os
import pkgutil
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from coretf import calibration
from coretf import export as export_lib
from coretf import labels as labels_lib
from coretf import metrics as metrics_lib
from coretf.config import Config, option
from coretf.models.unet import UPSAMPLING

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
STRATEGIES = ("default", "mirrored", "multi_worker")
EXPORT_POLICIES = ("float32", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """The settings every job shares (one set of flags for all jobs)."""

    job: str = option("", "Which job (dataset, model, metrics and export) to train; set by the job.")
    dataset: str = option("synthetic", "Builder config, e.g. synthetic, synthetic_256, manual.")
    data_dir: str = option("runs/tensorflow_datasets", "TFDS data directory (built there if missing).")
    manual_dir: str | None = option(None, "A lab's data folder, for the manual configs.")
    batch_size: int = option(16, "Global batch size.", minimum=1)
    epochs: int = option(3, "Epochs.", minimum=1)
    steps_per_epoch: int = option(0, "Steps per epoch; 0 = one pass.", minimum=0)
    validation_steps: int = option(0, "Validation batches; 0 = all.", minimum=0)
    learning_rate: float = option(1e-3, "Adam learning rate.", above=0)
    seed: int = option(0, "Seed of weights, shuffling and augmentation.")
    mixed_precision: str = option("auto", "auto = mixed_float16 on a GPU, float32 on a CPU.",
                                  choices=PRECISIONS)
    strategy: str = option("default", "tf.distribute strategy.", choices=STRATEGIES)
    export_policy: str = option("float32", "Compute dtype of the exported SavedModel.",
                                choices=EXPORT_POLICIES)
    export_version: int = option(0, "Write export/<N>/ (the layout TF Serving expects) instead of "
                                 "export/; 0 = export/ itself.", minimum=0)
    image_summaries: int = option(4, "Validation examples shown in TensorBoard.", minimum=0)
    folds: int = option(0, "k-fold cross-validation for a small labelled set: one model per fold in "
                        "<model_dir>/fold_<k>/ (test = fold k, validation = the next fold), figures as mean "
                        "and SD in metrics.json; 0 = the data's own splits.", minimum=0)
    seeds: tuple[int, ...] = option((), "Train an ensemble: one member per seed in <model_dir>/seed_<s>/, "
                                    "figures as mean and SD over the members in metrics.json, the "
                                    "ensemble's own figures and one export/ holding every member (mean "
                                    "probabilities, their spread and entropy); empty = one model.")
    fold: int = option(-1, "With --folds: train only this fold (0-based), e.g. one fold per machine; "
                       "-1 = every fold in turn.", minimum=-1)
    init_from: str | None = option(None, "Start from a trained model: a model directory (its model.keras), "
                                   "its export/ folder or a .keras file, e.g. the synthetic model a lab "
                                   "fine-tunes on its own images.")
    init_skip_mismatch: bool = option(False, "With --init_from: layers whose weights have other shapes (or "
                                      "that the source lacks) keep fresh weights instead of stopping the run; "
                                      "they are named in metrics.json.")


@dataclasses.dataclass(frozen=True)
class SegmentationConfig(TrainConfig):
    """The network settings of the jobs that train coretf's segmentation networks."""

    kernel_size: int = option(3, "Convolution kernel size (3, 5 or 7).", minimum=1)
    filters: tuple[int, ...] = option((64,), "Filters: one base value, or one per level.", minimum=1)
    depth: int = option(4, "Number of pooling levels (SegNet, U-Net).", minimum=1)
    upsampling: str = option("transpose", "U-Net upsampling.", choices=UPSAMPLING)
    activation: str = option("relu", "U-Net activation.")
    temperature_scaling: bool = option(False, "After training, fit a temperature T on validation pixels "
                                       "(Guo et al. 2017) and evaluate and serve softmax(logits / T): "
                                       "probabilities that mean what they say; no prediction changes.")

    @property
    def filter_spec(self) -> int | list[int]:
        """`filters` as the model builders take it: one base value, or one per level."""
        return self.filters[0] if len(self.filters) == 1 else list(self.filters)


@dataclasses.dataclass
class Inputs:
    """What a job's `build_inputs` returns.

    Attributes:
        train: repeated, shuffled batches (inputs, targets), or inputs alone for a model with
            its own `train_step`.
        steps_per_epoch: training steps per epoch.
        dataset: `name/config:version` of the data.
        validation: one ordered pass over the validation split, or None.
    """

    train: tf.data.Dataset
    steps_per_epoch: int
    dataset: str
    validation: tf.data.Dataset | None = None


_REGISTRY: dict[str, type[Job]] = {}


def progress_bars() -> bool:
    """Whether long loops show progress bars: in a terminal, not under CI (one line per epoch)."""
    return not os.environ.get("CI")


class Job(abc.ABC):
    """One kind of data and model; see the module docstring for what `coretf.runner` does with it.

    Args:
        config: an instance of the job's `config_class`.
    """

    name: ClassVar[str]
    config_class: ClassVar[type[TrainConfig]]
    monitor: ClassVar[str] = "val_loss"
    monitor_mode: ClassVar[str] = "min"
    keep: ClassVar[str] = "best"  # or "last": no validation split, the last epoch is the model
    jit_compile: ClassVar[bool | str] = "auto"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # a job; interfaces such as SegmentationJob have no name
            known = _REGISTRY.get(cls.name)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise ValueError(f"job {cls.name!r} is defined twice: {known.__module__}.{known.__qualname__} "
                                 f"and {cls.__module__}.{cls.__qualname__}")
            _REGISTRY[cls.name] = cls

    def __init__(self, config: TrainConfig):
        if not isinstance(config, self.config_class):
            raise TypeError(f"job {self.name}: expected a {self.config_class.__name__}, got "
                            f"{type(config).__name__}")
        if config.job and config.job != self.name:
            raise ValueError(f"--job={config.job}: this configuration is the {self.name} job's")
        self.config = dataclasses.replace(config, job=self.name) if not config.job else config

    @abc.abstractmethod
    def build_inputs(self, model_dir: str) -> Inputs:
        """Builds (or reads) the data and returns the training/validation pipelines."""

    @abc.abstractmethod
    def build_model(self) -> keras.Model:
        """The model to train, built inside the strategy scope."""

    def build_optimizer(self, steps_per_epoch: int) -> keras.optimizers.Optimizer:
        """Adam at `config.learning_rate`."""
        del steps_per_epoch
        return keras.optimizers.Adam(self.config.learning_rate)

    def build_loss(self):
        """The loss for `compile` (None for a model that computes its own in `train_step`)."""
        return None

    def build_metrics(self) -> list:
        """The metrics for `compile`."""
        return []

    def callbacks(self, model_dir: str) -> list[keras.callbacks.Callback]:
        """Callbacks of the job's own (TensorBoard pictures), after the runner's standard ones."""
        del model_dir
        return []

    @abc.abstractmethod
    def evaluate(self, model: keras.Model, model_dir: str) -> dict:
        """Test figures of the kept model (merged into metrics.json); writes the job's pictures."""

    @abc.abstractmethod
    def exports(self, model: keras.Model, metrics: dict) -> list:
        """The SavedModels to write: a list of `coretf.export.SavedModelSpec`."""

    def member_tables(self, model_dir: str, mean: dict, sd: dict) -> list[str]:
        """Writes the job's tables over the members of an ensemble or k-fold run (figures as
        mean +- SD) into `model_dir`; returns their file names. None by default."""
        return []

    def summary_lines(self, metrics: dict) -> list[str]:
        """What the console shows after training."""
        return [f"best epoch ({self.monitor}): {metrics['best_epoch']} of {metrics['epochs']}"]


class SegmentationJob(Job):
    """A job whose model maps (B, H, W, C) images to (B, H, W, classes) logits (or one logit).

    Subclasses set the class meaning below and `self.input_multiple` (the network's downsampling
    factor) in `build_model`.
    """

    class_names: ClassVar[tuple[str, ...]]
    iou_class: ClassVar[int]  # the class whose IoU the job reports
    confidence_class: ClassVar[int]  # the class of the `confidence` output
    confidence_meaning: ClassVar[str]
    metric_class: ClassVar[str] = ""  # names the IoU metrics ("ice" -> "ice_pooled_iou"); "" = the core paper's

    def build_metrics(self) -> list:
        return metrics_lib.segmentation_metrics(self.iou_class, self.metric_class)

    def check_sides(self, *sides: tuple[str, int]) -> None:
        """Raises ValueError naming the flag when a patch or tile side is not a multiple of the
        network's downsampling factor (`self.input_multiple`).

        Args:
            *sides: (what, side in px) pairs, e.g. ("--ice_tile", 200).
        """
        for what, side in sides:
            if side % self.input_multiple:
                raise ValueError(f"{what}: {side} px is not a multiple of {self.input_multiple}, "
                                 "the network's downsampling factor")

    def segmentation_export(self, network: keras.Model, metrics: dict, *, fold: bool = True,
                            **metadata) -> export_lib.SavedModelSpec:
        """The job's SavedModel of `network`: its class meaning and input multiple, plus `metadata`
        (e.g. model="segnet", the architecture's name) and the temperature its logits are divided
        by (1 unless `scale_temperature` fitted one). When the runner has set `members` (an
        ensemble's models), the export holds them instead of `network` (their mean)."""
        return export_lib.segmentation_spec(getattr(self, "members", None) or network, {
            "job": self.name, "dataset": metrics["dataset"], "input_multiple": self.input_multiple,
            "class_names": list(self.class_names), "iou_class": self.iou_class,
            "confidence_class": self.confidence_class, "confidence_meaning": self.confidence_meaning,
            "best_epoch": metrics["best_epoch"], "temperature": getattr(self, "temperature", 1.0), **metadata,
        }, fold=fold, dtype_policy=self.config.export_policy)

    def scale_temperature(self, model: keras.Model, validation: tf.data.Dataset,
                          max_pixels: int = 1_000_000) -> tuple[keras.Model, dict]:
        """Fits a temperature on (at most `max_pixels`, sampled) validation pixels the labels do
        not ignore (`coretf.calibration.fit_temperature`).

        Returns:
            (the model with its logits divided by T, {"temperature", and the validation NLL and
            ECE before and after, on the pixels fitted}).
        """
        rng = np.random.default_rng(self.config.seed)
        logits, labels = [], []
        for batch in validation:
            out = np.asarray(model.predict_on_batch(batch[0]), np.float32)
            truth = np.asarray(batch[1]).reshape(out.shape[:-1])
            valid = np.flatnonzero(truth.reshape(-1) != labels_lib.IGNORE)
            keep = rng.choice(valid, min(len(valid), max_pixels // 8), replace=False) if len(valid) else valid
            logits.append(out.reshape(-1, out.shape[-1])[keep])
            labels.append(np.rint(truth.reshape(-1)[keep]).astype(np.int64))
            if sum(map(len, labels)) >= max_pixels:
                break
        logits, labels = np.concatenate(logits), np.concatenate(labels)
        self.temperature = calibration.fit_temperature(logits, labels)
        figures = {"temperature": self.temperature, "pixels": int(len(labels))}
        for when, t in (("before", 1.0), ("after", self.temperature)):
            reliability = calibration.Reliability()
            reliability.update(calibration.softmax(logits, t), labels)
            figures[f"validation_nll_{when}"] = calibration.nll(logits, labels, t)
            figures[f"validation_ece_{when}"] = reliability.ece()
        scaled = keras.layers.Rescaling(1.0 / self.temperature, name="temperature")(model.outputs[0])
        return keras.Model(model.inputs, scaled, name=f"{model.name}_scaled"), figures


def job_names() -> tuple[str, ...]:
    """The jobs `--job` accepts: every module of coretf/jobs/ but this one, and jobs defined elsewhere."""
    modules = {m.name for m in pkgutil.iter_modules([os.path.dirname(__file__)]) if m.name != "base"}
    return tuple(sorted(modules | set(_REGISTRY)))


def get_job(name: str) -> type[Job]:
    """The `Job` class of `--job=name`, importing its module on first use."""
    if name not in _REGISTRY:
        if name not in job_names():
            raise ValueError(f"--job={name!r}: must be one of {', '.join(job_names())}")
        importlib.import_module(f"coretf.jobs.{name}")
    if name not in _REGISTRY:
        raise ValueError(f"coretf/jobs/{name}.py defines no Job subclass named {name!r}")
    return _REGISTRY[name]


def make_job(config: TrainConfig) -> Job:
    """The job that runs `config`: `config.job`'s, or the job whose configuration class it is."""
    if config.job:
        return get_job(config.job)(config)
    for job_class in _REGISTRY.values():
        if type(config) is job_class.config_class:
            return job_class(config)
    raise ValueError(f"no job takes a {type(config).__name__}; set its job")
