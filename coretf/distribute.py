"""Distribution strategies for training: one process, several GPUs (`--strategy=mirrored`) or a
cluster of workers (`--strategy=multi_worker`, `TF_CONFIG` per worker; README: training on a
cluster), and the two fixes Keras 3.15's `fit` needs to train under a cluster of two or more.

    strategy = distribute.get_strategy(config.strategy)  # before any other TensorFlow op
    with strategy.scope():
        model = ...; model.compile(...)
    distribute.prepare(model, strategy, train_dataset.element_spec)
    if distribute.is_chief(strategy): ...  # only the chief writes the model directory

Keras 3.15 with TensorFlow 2.21 (tensorflow/tensorflow#72388) fails under
MultiWorkerMirroredStrategy with two workers: (1) its step functions reduce every scalar log
with `strategy.reduce("MEAN", v, axis=0)` ("Invalid reduction dimension 0 for input with 0
dimensions"); (2) before training it builds the model from a batch it takes off the data
iterator, reduced across workers in eager mode ("Attempt to convert a value (PerReplica...)").
`prepare` fixes both: scalars are reduced over the replicas only, and the model is built from the
stream's element spec (only shapes and dtypes are used). tests/train/test_multi_worker.py runs
two workers and fails if either fix stops working.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_tf_trainer


@functools.cache
def get_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy for --strategy, one per process (a cluster's is made once).

    "multi_worker" reads the cluster from `TF_CONFIG`; it must be made before any other
    TensorFlow op of the process.
    """
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        _patch_scalar_reduce()
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the model directory: a single process, or a cluster's chief
    (worker 0 when the cluster names no chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster or resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def task_id(strategy: tf.distribute.Strategy) -> int:
    """This worker's index in its cluster (0 for a single process)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(resolver.task_id or 0) if resolver is not None else 0


def prepare(model: keras.Model, strategy: tf.distribute.Strategy, spec) -> None:
    """Makes a compiled model build from `spec` (the training stream's element spec) rather than
    from a batch taken off the iterator (fix 2 of the module docstring); for any strategy but
    the default, so the stream a distributed run trains on is the one a single process sees."""
    if getattr(model, "_distribute_strategy", None) is None:
        return

    def build(iterator=None, data_batch=None):
        del iterator, data_batch
        with strategy.scope():
            model._symbolic_build(data_batch=spec)

    model._maybe_symbolic_build = build


@functools.cache
def _patch_scalar_reduce() -> None:
    """Fix 1 of the module docstring: scalar logs reduced over the replicas, not along axis 0."""
    original = keras_tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and keras_tf_trainer._collective_all_reduce_multi_worker(strategy):
            local = lambda v: (strategy.experimental_local_results(v)[0]
                               if keras_tf_trainer._is_per_replica_instance(v) else v)
            if all(local(v).shape.rank == 0 for v in tf.nest.flatten(values)):
                lifted = tf.nest.map_structure(lambda v: strategy.run(lambda t: t[None], (v,)), values)
                return original(lifted, strategy, reduction)  # axis 0 reduced away: scalars again
        return original(values, strategy, reduction)

    keras_tf_trainer.reduce_per_replica = reduce_per_replica
