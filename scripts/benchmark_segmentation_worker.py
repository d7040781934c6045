"""One configuration of scripts/benchmark_segmentation.py, as a worker process.

  python scripts/benchmark_segmentation_worker.py '<JSON spec>'

The spec (built by the driver) names the model, its hyper-parameters, size, batch and dtype
policy. The worker builds and compiles the model, times its first training step, warms up
training and inference, optionally profiles one step, and then serves the driver's requests
(`benchmark_common.serve`): "train" (one timed training step), "infer" with a variant ("trained"
or "folded", the SavedModel's BatchNorm-folded copy) and "report" (memory). TF_ENABLE_ONEDNN_OPTS
comes from the driver's environment.
"""

from __future__ import annotations

import json
import os
import sys

import benchmark_common as common  # scripts/ is on sys.path when this file runs as a script


def build_model(spec: dict):
    """The Keras model of `spec` under the current global dtype policy."""
    import keras

    from coretf.layers import conv_bn_act, logits_conv
    from coretf.models import build_fcn8, build_segnet, build_unet

    shape, classes = (spec["size"], spec["size"], 3), spec["num_classes"]
    name, hp = spec["model"], spec["hparams"]
    if name == "segnet":
        return build_segnet(shape, classes, kernel_size=hp["kernel_size"], filters=hp["filters"],
                            depth=hp["depth"])
    if name == "unet":
        return build_unet(shape, classes, depth=hp["depth"], filters=hp["filters"],
                          kernel_size=hp["kernel_size"])
    if name == "fcn8":
        return build_fcn8(shape, classes, kernel_size=hp["kernel_size"],
                          fc_filters=hp["fc_filters"])
    if name == "segnet_baseline":
        # SegNet-Basic's layers with the indices removed: MaxPooling2D in the encoder and
        # nearest-neighbour UpSampling2D in the decoder.
        inputs = keras.Input(shape=shape, name="image")
        x = inputs
        for level in range(hp["depth"]):
            x = conv_bn_act(x, hp["filters"], hp["kernel_size"], name=f"encoder{level + 1}_conv")
            x = keras.layers.MaxPooling2D(2, name=f"encoder{level + 1}_pool")(x)
        for level in reversed(range(hp["depth"])):
            x = keras.layers.UpSampling2D(2, name=f"decoder{level + 1}_up")(x)
            x = conv_bn_act(x, hp["filters"], hp["kernel_size"], activation=None,
                            name=f"decoder{level + 1}_conv")
        return keras.Model(inputs, logits_conv(x, classes), name="segnet_baseline")
    raise ValueError(f"unknown model {name!r}")


def with_keras_batchnorm(model):
    """Copy of a functional model with Keras' own BatchNormalization in place of coretf's."""
    import keras

    from coretf.layers import BatchNormalization

    def clone(layer):
        cls = keras.layers.BatchNormalization if type(layer) is BatchNormalization else layer.__class__
        return cls.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _op_kind(node: str, op: str) -> str:
    """Which part of a SegNet/U-Net/FCN-8 training step a traced TensorFlow op belongs to."""
    if "Conv2D" in op:
        # A transposed conv runs forward as Conv2DBackpropInput: backward is the gradient tape's.
        if not node.startswith("gradient_tape"):
            return "conv_forward"
        return "conv_backward_filter" if "Filter" in op else "conv_backward_input"
    if "_bn" in node or "batchnorm" in node.lower() or "FusedBatchNorm" in op:
        return "batchnorm"
    if "pool" in node or "unpool" in node or "_up" in node:
        return "pooling_and_upsampling"
    if "adam" in node.lower() or op.startswith(("Assign", "ResourceApply")):
        return "optimizer"
    if "loss" in node or "cross_entropy" in node:
        return "loss"
    return "other"


def profile_step(model, x, y) -> dict:
    """Thread seconds per op kind of one traced `train_on_batch` (ops running at the same time
    on both cores each count their own wall time, so the total exceeds the step time)."""
    import glob
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.train_on_batch(x, y)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        with open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], "rb") as f:
            space.ParseFromString(f.read())
    seconds = {}
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                # Leaf kernels are "node:OpType"; executor and ParallelFor spans enclose them.
                if ":" not in name or "::" in name or name.startswith("ParallelFor"):
                    continue
                kind = _op_kind(*name.rsplit(":", 1))
                seconds[kind] = seconds.get(kind, 0.0) + event.duration_ps / 1e12
    total = sum(seconds.values())
    return {"thread_s": seconds, "share": {k: v / total for k, v in seconds.items()},
            "thread_s_total": total}


class Session:
    """One configuration, built, compiled and warmed up; its methods answer the driver."""

    def __init__(self, spec: dict):
        rss_start = common.rss_mb()
        import keras
        import numpy as np
        import tensorflow as tf

        from coretf.losses import WeightedSparseCrossEntropy
        from coretf.models import fold_batchnorm

        if spec["intra_op_threads"]:
            tf.config.threading.set_intra_op_parallelism_threads(spec["intra_op_threads"])
        if spec["inter_op_threads"]:
            tf.config.threading.set_inter_op_parallelism_threads(spec["inter_op_threads"])
        self.info = {"rss_before_import_mb": rss_start, "rss_after_import_mb": common.rss_mb(),
                     "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}
        keras.utils.set_random_seed(spec["seed"])
        keras.mixed_precision.set_global_policy(spec["policy"])
        model = build_model(spec)
        if spec["keras_batchnorm"]:
            model = with_keras_batchnorm(model)
        jit = {"auto": "auto", "true": True, "false": False}[spec["jit_compile"]]
        # coretf.train's loss and optimizer; its IoU metrics are left out to time the step alone.
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=WeightedSparseCrossEntropy(),
                      jit_compile=jit)
        self.info["params"] = int(model.count_params())
        rng = np.random.default_rng(spec["seed"])
        b, s = spec["batch_size"], spec["size"]
        self.x = tf.constant(rng.uniform(0.0, 1.0, (b, s, s, 3)).astype("float32"))
        self.y = tf.constant(rng.integers(0, spec["num_classes"], (b, s, s, 1)).astype("int32"))
        self.model = model

        self.info["first_step_s"] = common.timed(self._step)["s"]
        warm = [common.timed(self._step)["s"] for _ in range(max(0, spec["warmup"] - 1))]
        self.info["warm_step_s"] = min(warm or [self.info["first_step_s"]])
        if spec["profile"]:
            self.info["profile"] = profile_step(model, self.x, self.y)

        folded = fold_batchnorm(model, dtype_policy=spec["policy"])
        self.inference = {}
        for xla in (False, True) if spec["infer_xla"] else (False,):
            for label, net in (("trained", model), ("folded", folded)):
                fn = tf.function(lambda t, net=net: net(t, training=False), jit_compile=xla)
                try:
                    for _ in range(max(1, spec["warmup"])):
                        fn(self.x).numpy()
                except Exception as error:  # e.g. an op without an XLA kernel: report, go on
                    self.info.setdefault("inference_errors", {})[label] = (
                        f"{type(error).__name__}: {error}"[:500])
                    continue
                self.inference[f"{label}_xla" if xla else label] = fn
        self.info["inference_variants"] = sorted(self.inference)
        self.info["rss_after_warmup_mb"] = common.rss_mb()

    def _step(self):
        self.loss = self.model.train_on_batch(self.x, self.y)

    def train(self, request: dict) -> dict:
        return common.timed(self._step)

    def infer(self, request: dict) -> dict:
        fn = self.inference[request["variant"]]
        return common.timed(lambda: fn(self.x).numpy())

    def report(self, request: dict) -> dict:
        return {"rss_peak_mb": common.rss_mb(), "train_loss_last": float(self.loss)}


def main() -> None:
    stream = common.protocol_stream()
    try:
        session = Session(json.loads(sys.argv[1]))
    except Exception as error:  # the driver reports it and goes on with the other configurations
        stream.write(json.dumps({"error": f"{type(error).__name__}: {error}"[:1000]}) + "\n")
        stream.flush()
        raise
    common.serve(stream, session.info, {"train": session.train, "infer": session.infer,
                                        "report": session.report})


if __name__ == "__main__":
    main()
