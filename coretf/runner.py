"""The one training loop of every coretf job (`coretf.jobs.base.Job`).

`run(job, model_dir)` does, for any job: `config.json`, seed and dtype policy, strategy scope,
build and compile, resume from the last finished epoch, the standard callbacks (one checkpoint
per epoch, the best epoch by the job's monitored metric, TensorBoard, history.csv, the training
state) plus the job's own, fit, reload of the best epoch (or keep the last, for a job without a
validation split), the job's evaluation, `metrics.json` and the job's SavedModels. What the model
directory then holds is listed in `coretf.jobs.base`.

A rerun in the same model directory (after a kill, or with more `--epochs`) continues from the
last finished epoch and ends with the weights and figures of an uninterrupted run with the same
seed: `callbacks.TrainingState` restores weights, optimizer and random-number generators, and the
training stream (every job's is seeded, a function of the seed alone) is advanced past the
finished epochs' batches. That skip runs the input pipeline, not the model: seconds for the
jobs here, against minutes of training per epoch.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from coretf import callbacks as callbacks_lib
from coretf import distribute, ensemble
from coretf import export as export_lib
from coretf import io as coretf_io
from coretf import outputs, provenance, warm_start
from coretf.jobs import base


def resolve_policy(name: str) -> str:
    """The Keras dtype policy for --mixed_precision ("auto": float16 on a GPU, float32 on a CPU)."""
    if name == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return name


def standard_callbacks(model_dir: str, monitor: str, mode: str = "max") -> tuple[list, callbacks_lib.BestCheckpoint]:
    """Per-epoch checkpoints, best-epoch tracking, TensorBoard and history.csv.

    Returns (callbacks, best): `best.best()` is the best epoch's record after `fit`, and
    `best.weights_path` its weights.
    """
    checkpoints = os.path.join(model_dir, "checkpoints")
    best = callbacks_lib.BestCheckpoint(model_dir, monitor=monitor, mode=mode)
    return [
        keras.callbacks.ModelCheckpoint(os.path.join(checkpoints, "epoch_{epoch:03d}.weights.h5"),
                                        save_weights_only=True),
        best,
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
        keras.callbacks.CSVLogger(os.path.join(model_dir, "history.csv"), append=True),
    ], best


def fit_verbosity() -> int:
    """Keras `fit` verbosity: a progress bar in a terminal, one line per epoch under CI."""
    return 1 if base.progress_bars() else 2


def run(job: base.Job, model_dir: str) -> dict:
    """Trains `job`, keeps the best (or last) epoch, evaluates, exports. Returns the metrics.

    With `--folds=k` (and no `--fold`) or `--seeds=a,b,...`, one member per fold or seed
    (`run_members`). The job keeps the model it evaluated and exported (`job.kept_model`).
    """
    config = job.config
    strategy = distribute.get_strategy(config.strategy)  # first: a cluster's before any other TF op
    if (config.folds > 1 and config.fold < 0) or config.seeds:
        return run_members(job, model_dir)
    chief = distribute.is_chief(strategy)
    # The other workers of a cluster train alike but write into a folder of their own, removed
    # at the end; they resume from the chief's training state.
    write_dir = model_dir if chief else tempfile.mkdtemp(prefix=f"coretf_worker{distribute.task_id(strategy)}_")
    os.makedirs(model_dir, exist_ok=True)
    if chief:
        coretf_io.write_json(os.path.join(model_dir, "config.json"), config.to_dict())
    keras.utils.set_random_seed(config.seed)
    policy = resolve_policy(config.mixed_precision)
    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        return _train_and_export(job, write_dir, policy, strategy, state_from=model_dir)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)


def _train_and_export(job: base.Job, model_dir: str, policy: str, strategy: tf.distribute.Strategy,
                      state_from: str) -> dict:
    config = job.config
    inputs = job.build_inputs(model_dir)
    # Seeded again: preparing the data (a TFDS build, on the first run only) draws from Python's
    # `random`, from which Keras seeds the layers' initialisers.
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = job.build_model()
        model.compile(optimizer=job.build_optimizer(inputs.steps_per_epoch), loss=job.build_loss(),
                      metrics=job.build_metrics(), jit_compile=job.jit_compile)
    distribute.prepare(model, strategy, inputs.train.element_spec)
    started_from = (warm_start.warm_start(model, config.init_from, skip_mismatch=config.init_skip_mismatch)
                    if config.init_from else None)
    outputs.remove_temporaries(model_dir)  # a killed run's half-written files
    state = callbacks_lib.TrainingState(os.path.join(model_dir, "checkpoints"))
    with strategy.scope():  # the optimizer's variables are made here on a first restore
        finished = state.restore(model, os.path.join(state_from, "checkpoints"))
    train = inputs.train.skip(finished * inputs.steps_per_epoch) if finished else inputs.train
    callbacks, best = standard_callbacks(model_dir, job.monitor, job.monitor_mode)
    callbacks += [*job.callbacks(model_dir), state]  # the state last: an epoch is done when all saw it
    started = time.time()
    history = model.fit(
        train,
        shuffle=False,  # the pipelines shuffle (seeded); Keras cannot shuffle a tf.data input
        initial_epoch=finished,
        epochs=config.epochs,
        steps_per_epoch=inputs.steps_per_epoch,
        validation_data=inputs.validation,
        validation_steps=(config.validation_steps or None) if inputs.validation is not None else None,
        callbacks=callbacks,
        verbose=fit_verbosity(),
    )
    train_seconds = time.time() - started
    metrics = {"dataset": inputs.dataset, "epochs": config.epochs,
               "steps_per_epoch": inputs.steps_per_epoch, "best_epoch": config.epochs}
    if job.keep == "best":
        record = best.best()
        if record is None:
            raise RuntimeError(f"{model_dir}: no epoch finished with a finite {job.monitor}")
        model.load_weights(best.weights_path)
        metrics["best_epoch"] = record["epoch"]
        metrics["validation"] = {k[len("val_"):]: v for k, v in record["logs"].items()
                                 if k.startswith("val_")}
    losses = history.history.get("loss")
    metrics["final_train_loss"] = float(losses[-1]) if losses else None
    if started_from:
        metrics["init_from"] = started_from
    if getattr(model, "_distribute_strategy", None) is not None:
        if not distribute.is_chief(strategy):
            return metrics  # the chief evaluates and exports
        model = _undistributed(job, model)
    with coretf_io.atomic_path(os.path.join(model_dir, warm_start.MODEL_FILE)) as tmp:
        model.save(tmp)  # the kept model, for a later run's --init_from
    if getattr(config, "temperature_scaling", False) and inputs.validation is not None:
        model, metrics["temperature_scaling"] = job.scale_temperature(model, inputs.validation)
    started = time.time()
    metrics.update(job.evaluate(model, model_dir))
    metrics.update(train_seconds=round(train_seconds, 1),
                   evaluate_seconds=round(time.time() - started, 1), dtype_policy=policy,
                   provenance=provenance.record())
    coretf_io.write_json(os.path.join(model_dir, "metrics.json"), metrics)
    for spec in job.exports(model, metrics):
        export_lib.write_saved_model(os.path.join(model_dir, spec.name), spec,
                                     version=config.export_version)
    job.kept_model = model
    return metrics


def _undistributed(job: base.Job, model: keras.Model) -> keras.Model:
    """A copy of a model trained under a strategy, for evaluation and export by this process
    alone (the distributed model's predict would spread the images over the cluster)."""
    copy = job.build_model()
    copy.compile(loss=job.build_loss(), metrics=job.build_metrics(), jit_compile=job.jit_compile)
    copy.set_weights(model.get_weights())
    return copy


def run_members(job: base.Job, model_dir: str) -> dict:
    """Every member: the folds of `--folds` (k-fold cross-validation) or the seeds of `--seeds`
    (an ensemble), each a whole run in `<model_dir>/fold_<k>/` or `seed_<s>/`; then every figure
    as the mean and SD over them (`metrics.json`: "mean", "sd"). For a segmentation job the
    members are also one model: `export/` holds them all (mean probabilities, spread, entropy),
    and with `--seeds` (every member trained and tested on the same splits) the ensemble is
    evaluated like a single model ("ensemble" in metrics.json, its pictures and calibration
    beside it); k-fold members each held out another fold, so no split is unseen by all of them.
    """
    config = job.config
    if config.seeds:
        if config.folds > 1 and config.fold < 0:
            raise ValueError("--seeds and --folds: give one of them (or --fold with --seeds)")
        if len(set(config.seeds)) != len(config.seeds):
            raise ValueError(f"--seeds={','.join(map(str, config.seeds))}: a seed is listed twice")
        members = [(f"seed_{s}", dataclasses.replace(config, seed=s, seeds=())) for s in config.seeds]
    else:
        members = [(f"fold_{k}", dataclasses.replace(config, fold=k)) for k in range(config.folds)]
    jobs, per_member = [], []
    for name, member_config in members:
        jobs.append(type(job)(member_config))
        per_member.append(run(jobs[-1], os.path.join(model_dir, name)))
    mean, sd = mean_and_sd(per_member)
    metrics = {"members": len(members), "member_dirs": [name for name, _ in members],
               "dataset": per_member[0]["dataset"], "epochs": config.epochs, "mean": mean, "sd": sd}
    lead = jobs[-1]  # its data and settings serve the tables, the ensemble's evaluation and export
    metrics["tables"] = lead.member_tables(model_dir, mean, sd)
    if config.seeds:
        metrics["seeds"] = list(config.seeds)
    else:
        metrics.update(folds=config.folds, fold_dirs=metrics["member_dirs"])
    if isinstance(lead, base.SegmentationJob):
        models = [member.kept_model for member in jobs]
        network = ensemble.ensemble_network(models)
        if config.seeds:
            metrics["ensemble"] = lead.evaluate(network, model_dir)
        lead.members = models
        lead.temperature = [getattr(member, "temperature", 1.0) for member in jobs]
        described = {**mean, **metrics.get("ensemble", {}), "best_epoch": [m["best_epoch"] for m in per_member]}
        for spec in lead.exports(network, described):
            export_lib.write_saved_model(os.path.join(model_dir, spec.name), spec, version=config.export_version)
        metrics["export"] = "export/: every member, their mean probabilities, spread and entropy"
    metrics["provenance"] = provenance.record()
    coretf_io.write_json(os.path.join(model_dir, "config.json"), config.to_dict())
    coretf_io.write_json(os.path.join(model_dir, "metrics.json"), metrics)
    return metrics


def mean_and_sd(records: list) -> tuple:
    """Mean and SD (ddof 0) over records of the same shape: dicts and lists are followed, numbers
    averaged (None where any record has none), other values kept where all records agree."""
    first = records[0]
    if isinstance(first, dict):
        keys = [k for k in first if all(isinstance(r, dict) and k in r for r in records)]
        pairs = {k: mean_and_sd([r[k] for r in records]) for k in keys}
        return {k: m for k, (m, _) in pairs.items()}, {k: s for k, (_, s) in pairs.items()}
    if isinstance(first, list) and all(isinstance(r, list) and len(r) == len(first) for r in records):
        pairs = [mean_and_sd([r[i] for r in records]) for i in range(len(first))]
        return [m for m, _ in pairs], [s for _, s in pairs]
    numbers = [r for r in records if isinstance(r, (int, float)) and not isinstance(r, bool)]
    if len(numbers) == len(records):
        values = np.asarray(numbers, np.float64)
        return float(values.mean()), float(values.std())
    return (first if all(r == first for r in records) else None), None


def train_and_evaluate(config: base.TrainConfig, model_dir: str) -> dict:
    """`run` of the job `config.job` names. Returns the metrics."""
    return run(base.make_job(config), model_dir)
