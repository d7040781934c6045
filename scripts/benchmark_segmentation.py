"""Training and inference speed and peak memory of the coretf segmentation models on this machine.

  # SegNet-Basic (7x7, 64 filters, depth 4, 256 px, batch 16) against the PyTorch targets:
  python scripts/benchmark_segmentation.py --target --fused_batchnorm=both --output=/tmp/t.json
  # The grid (every model x size x policy, plus the plain-pooling SegNet baseline):
  python scripts/benchmark_segmentation.py --models=segnet,unet,fcn8 --sizes=128,256 \\
      --policies=float32,mixed_bfloat16 --max_timed_seconds=60 --output=/tmp/grid.json

Reached on the 2-core AMX VM (TF 2.21, Keras 3.15.1; two runs, hypervisor steal <= 7 %):
SegNet-Basic 256 px trains in 6.2-6.4 s/step under mixed_bfloat16 (15.7-16.0 s in float32) and
infers 11-12 patches/s with BatchNorm folded; with --fused_batchnorm 4.4-5.3 s/step.

Each (model, size, policy) runs in its own subprocess, so `ru_maxrss` is that configuration's peak
resident memory (TensorFlow's import included: see `rss_after_import_mb`). A training step is
`model.train_on_batch` with the loss and optimizer of `coretf.train` (`WeightedSparseCrossEntropy`,
Adam 1e-3; no metrics) on random data with a fixed seed; inference is `model(x, training=False)`
inside a `tf.function`, for the trained model and for its `fold_batchnorm` copy. "segnet_baseline"
is SegNet-Basic with `MaxPooling2D` and `UpSampling2D` in place of index pooling and unpooling: the
same convolutions, so the difference is the cost of the indices. `--fused_batchnorm` is an
experiment, not coretf's model: Keras 3 computes BatchNorm from separate ops, in float32 even
under mixed precision, and TensorFlow's fused kernel does the same maths in one pass.

The machine is shared and virtual, so every timing records the share of the CPUs that other
processes and the hypervisor (steal) took meanwhile; a disturbed configuration is rerun
(`--max_disturbance`, `--retries`) and the less disturbed run kept. Progress goes to stderr, the
JSON document to stdout (and `--output`).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from importlib import metadata

from absl import app, flags

FLAGS = flags.FLAGS

# Environment variables that change TensorFlow's CPU speed, recorded with the figures.
_ENV_PREFIXES = ("TF_ENABLE_", "TF_NUM_", "TF_ONEDNN", "TF_XLA", "XLA_", "OMP_", "KMP_", "ONEDNN_",
                 "DNNL_")
MODEL_NAMES = ("segnet", "segnet_baseline", "unet", "fcn8")
ONEDNN = ("on", "tf_default")
# SegNet-Basic at 256 px, batch 16, measured on this machine with PyTorch 2.13 (best setting:
# bf16 autocast + channels_last), and what coretf must reach / aims at.
TARGETS = {
    "pytorch_best_train_step_s": 3.7,
    "pytorch_float32_train_step_s": 6.9,
    "pytorch_best_inference_patches_per_s": 13.4,
    "required_train_step_s": 3.7,
    "aim_train_step_s": 3.4,
    "required_inference_patches_per_s": 17.0,
    "aim_inference_patches_per_s": 20.0,
}


def define_flags() -> None:
    flags.DEFINE_list("models", ["segnet", "unet", "fcn8"], f"Models, from {MODEL_NAMES}.")
    flags.DEFINE_list("sizes", ["128", "256"], "Square patch sides in pixels.")
    flags.DEFINE_list("policies", ["float32", "mixed_bfloat16"], "Keras dtype policies.")
    flags.DEFINE_integer("batch_size", 16, "Batch size of training and inference.")
    flags.DEFINE_integer("repeats", 5, "Timed training steps / inference calls after warm-up.")
    flags.DEFINE_integer("infer_repeats", 5, "Timed inference calls per inference variant.")
    flags.DEFINE_integer("warmup", 2, "Untimed steps (and calls) first; the first one traces.")
    flags.DEFINE_float("max_timed_seconds", 0.0,
                       "If > 0, cap the timed training steps, and the calls of each inference "
                       "variant, to fit this many seconds (never fewer than 3); the JSON records "
                       "every reduction.")
    flags.DEFINE_boolean("baseline", True,
                         "With segnet, also run segnet_baseline (plain max-pool + upsampling).")
    flags.DEFINE_boolean("target", False,
                         "Run only SegNet-Basic at 256 px (both policies) and its baseline.")
    flags.DEFINE_integer("num_classes", 2, "Logit channels.")
    flags.DEFINE_integer("kernel_size", 7, "SegNet kernel side.")
    flags.DEFINE_integer("filters", 64, "SegNet filters per level.")
    flags.DEFINE_integer("depth", 4, "SegNet depth.")
    flags.DEFINE_integer("unet_filters", 64, "U-Net base width (64 -> 1024 at depth 4).")
    flags.DEFINE_integer("unet_depth", 4, "U-Net depth.")
    flags.DEFINE_integer("unet_kernel_size", 3, "U-Net kernel side.")
    flags.DEFINE_integer("fcn8_kernel_size", 3, "FCN-8 backbone kernel side.")
    flags.DEFINE_integer("fc_filters", 4096, "FCN-8 fc6/fc7 width.")
    flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"],
                      "model.compile(jit_compile=...); 'auto' (coretf.train's) is no XLA on CPU.")
    flags.DEFINE_boolean("infer_xla", False,
                         "Also time the inference tf.functions with jit_compile=True (3-4x "
                         "slower than TensorFlow's own CPU kernels on this machine).")
    flags.DEFINE_integer("intra_op_threads", 0, "tf.config.threading intra-op threads (0: TF's).")
    flags.DEFINE_integer("inter_op_threads", 0, "tf.config.threading inter-op threads (0: TF's).")
    flags.DEFINE_enum("keras_batchnorm", "off", ["off", "on", "both"],
                      "Experiment: also (both) or only (on) run every model with Keras' own "
                      "BatchNormalization in place of coretf's fused one (same maths).")
    flags.DEFINE_list("onednn", ["on"],
                      "TensorFlow CPU kernels: 'on' (TF_ENABLE_ONEDNN_OPTS=1, coretf's default) "
                      "and/or 'tf_default' (unset: TensorFlow turns oneDNN on only on CPUs with "
                      "AVX-512 VNNI/BF16 or AMX).")
    flags.DEFINE_string("pytorch_python", None,
                        "A Python with PyTorch: also run scripts/benchmark_pytorch_reference.py "
                        "with the same SegNet-Basic, batch and size, and judge the target "
                        "against it (see that script for the environment).")
    flags.DEFINE_list("pytorch_settings", ["float32", "float32_cl", "bf16", "bf16_cl"],
                      "Settings of the PyTorch reference (bf16 only where the CPU has it).")
    flags.DEFINE_float("wait_load", 1.2,
                       "Before each configuration wait until the 1-minute load average is below "
                       "this and other processes used < 10 percent of the CPUs over 3 s (0: off).")
    flags.DEFINE_integer("wait_max_s", 900, "Longest wait for a quiet machine, in seconds.")
    flags.DEFINE_float("max_disturbance", 0.05,
                       "Rerun a configuration (up to --retries times, keeping the least disturbed "
                       "run) if other processes and the hypervisor (steal) took more than this "
                       "share of the CPUs during its timed training steps.")
    flags.DEFINE_integer("retries", 1, "Reruns of a disturbed configuration.")
    flags.DEFINE_integer("seed", 0, "Seed of weights and random data.")
    flags.DEFINE_integer("timeout", 1800, "Seconds before a configuration's subprocess is killed.")
    flags.DEFINE_string("output", None, "Also write the JSON document here.")
    flags.DEFINE_string("worker", None, "Internal: JSON spec of one configuration to run.")


def _log(message: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _cpu_ticks() -> tuple[int, int, int]:
    """(busy in this VM, stolen by the hypervisor, total) clock ticks since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + steal + idle + iowait


class CpuShare:
    """Shares of all CPUs that other processes (`others`) and the hypervisor (`steal`) took."""

    def __enter__(self):
        self._ticks, self._own = _cpu_ticks(), sum(os.times()[:2])
        return self

    def __exit__(self, *exc):
        busy, steal, total = (b - a for b, a in zip(_cpu_ticks(), self._ticks))
        own, total = (sum(os.times()[:2]) - self._own) * os.sysconf("SC_CLK_TCK"), max(total, 1)
        self.others, self.steal, self.own = max(0.0, busy - own) / total, steal / total, own / total


def _summary(seconds: list[float]) -> dict:
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "n": len(seconds),
        "all_s": [round(s, 4) for s in seconds],
    }


# ---------------------------------------------------------------------------------------------
# One configuration (runs in a subprocess).


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
    raise ValueError(f"unknown model {name!r}; expected one of {MODEL_NAMES}")


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


def _capped(repeats: int, seconds_each: float, budget: float) -> int:
    """Repeats that fit in `budget` seconds (at least 3), or `repeats` without a budget."""
    if budget <= 0 or seconds_each <= 0:
        return repeats
    return min(repeats, max(3, int(budget // seconds_each)))


def _time_inference(fn, x, warmup: int, repeats: int, budget: float) -> dict:
    for _ in range(max(0, warmup - 1)):
        fn(x).numpy()
    start = time.perf_counter()
    fn(x).numpy()
    repeats = _capped(repeats, time.perf_counter() - start, budget)
    seconds = []
    with CpuShare() as share:
        for _ in range(repeats):
            start = time.perf_counter()
            fn(x).numpy()
            seconds.append(time.perf_counter() - start)
    out = _summary(seconds)
    out.update(others_cpu_share=share.others, steal_cpu_share=share.steal)
    out["patches_per_s"] = int(x.shape[0]) / out["median_s"]
    return out


def run_config(spec: dict) -> dict:
    """Times training and inference of one configuration; returns the JSON record."""
    rss_start = _rss_mb()
    import keras
    import numpy as np
    import tensorflow as tf

    from coretf.losses import WeightedSparseCrossEntropy
    from coretf.models import fold_batchnorm

    if spec["intra_op_threads"]:
        tf.config.threading.set_intra_op_parallelism_threads(spec["intra_op_threads"])
    if spec["inter_op_threads"]:
        tf.config.threading.set_inter_op_parallelism_threads(spec["inter_op_threads"])
    record = {"load_avg_start": os.getloadavg(), "rss_after_import_mb": _rss_mb(),
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
    record["params"] = int(model.count_params())

    rng = np.random.default_rng(spec["seed"])
    b, s = spec["batch_size"], spec["size"]
    x = tf.constant(rng.uniform(0.0, 1.0, (b, s, s, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, spec["num_classes"], (b, s, s, 1)).astype("int32"))

    start = time.perf_counter()
    model.train_on_batch(x, y)
    record["first_step_s"] = time.perf_counter() - start
    warm = []
    for _ in range(max(0, spec["warmup"] - 1)):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        warm.append(time.perf_counter() - start)
    repeats = _capped(spec["repeats"], min(warm or [record["first_step_s"]]),
                      spec["max_timed_seconds"])
    seconds = []
    with CpuShare() as share:
        for _ in range(repeats):
            start = time.perf_counter()
            loss = model.train_on_batch(x, y)
            seconds.append(time.perf_counter() - start)
    record["train_step"] = _summary(seconds)
    record["train_step"].update(others_cpu_share=share.others, steal_cpu_share=share.steal,
                                own_cpu_share=share.own)
    record["train_loss_last"] = float(np.asarray(loss))
    record["rss_after_train_mb"] = _rss_mb()
    _log(f"  train step median {record['train_step']['median_s']:.3f} s "
         f"(other processes took {100 * share.others:.0f} %, the hypervisor "
         f"{100 * share.steal:.0f} % of the CPUs)")

    folded = fold_batchnorm(model, dtype_policy=spec["policy"])
    variants = {"trained": model, "folded": folded}
    record["inference"] = {}
    for xla in (False, True) if spec["infer_xla"] else (False,):
        for label, net in variants.items():
            key = f"{label}_xla" if xla else label
            fn = tf.function(lambda t, net=net: net(t, training=False), jit_compile=xla)
            try:
                record["inference"][key] = _time_inference(
                    fn, x, spec["warmup"], spec["infer_repeats"], spec["max_timed_seconds"])
            except Exception as error:  # e.g. an op without an XLA kernel: report, go on
                record["inference"][key] = {"error": f"{type(error).__name__}: {error}"[:500]}
            got = record["inference"][key].get("patches_per_s")
            _log(f"  inference {key}: " + (f"{got:.2f} patches/s" if got else "failed"))
    record["rss_peak_mb"] = _rss_mb()
    record["rss_before_import_mb"] = rss_start
    record["load_avg_end"] = os.getloadavg()
    return record


# ---------------------------------------------------------------------------------------------
# The driver.


def _hparams(model: str) -> dict:
    if model in ("segnet", "segnet_baseline"):
        return {"kernel_size": FLAGS.kernel_size, "filters": FLAGS.filters, "depth": FLAGS.depth}
    if model == "unet":
        return {"kernel_size": FLAGS.unet_kernel_size, "filters": FLAGS.unet_filters,
                "depth": FLAGS.unet_depth}
    return {"kernel_size": FLAGS.fcn8_kernel_size, "fc_filters": FLAGS.fc_filters}


def _configs() -> list[dict]:
    if FLAGS.target:
        models, sizes = ["segnet", "segnet_baseline"], [256]
    else:
        models, sizes = list(FLAGS.models), [int(s) for s in FLAGS.sizes]
        if FLAGS.baseline and "segnet" in models and "segnet_baseline" not in models:
            models.insert(models.index("segnet") + 1, "segnet_baseline")
    unknown = set(models) - set(MODEL_NAMES)
    if unknown:
        raise app.UsageError(f"--models: unknown {sorted(unknown)}; choose from {MODEL_NAMES}")
    common = {k: getattr(FLAGS, k) for k in (
        "batch_size", "repeats", "infer_repeats", "warmup", "max_timed_seconds", "num_classes",
        "jit_compile", "infer_xla", "intra_op_threads", "inter_op_threads", "seed")}
    keras_bn = {"off": [False], "on": [True], "both": [False, True]}[FLAGS.keras_batchnorm]
    bad = set(FLAGS.onednn) - set(ONEDNN)
    if bad:
        raise app.UsageError(f"--onednn: unknown {sorted(bad)}; choose from {ONEDNN}")
    return [dict(common, model=m, size=s, policy=p, keras_batchnorm=k, onednn=o,
                 hparams=_hparams(m))
            for m in models for s in sizes for o in FLAGS.onednn for k in keras_bn
            for p in FLAGS.policies]


def _wait_for_quiet() -> dict:
    """Waits (up to --wait_max_s) for a quiet machine; returns what it saw."""
    start = time.perf_counter()
    while True:
        with CpuShare() as share:
            time.sleep(3.0)
        load = os.getloadavg()[0]
        quiet = load < FLAGS.wait_load and share.others < 0.10
        waited = time.perf_counter() - start
        if quiet or not FLAGS.wait_load or waited > FLAGS.wait_max_s:
            return {"load_avg_1min": load, "others_cpu_share_3s": share.others,
                    "waited_s": round(waited, 1), "quiet": quiet}
        time.sleep(5.0)


def _run_subprocess(spec: dict) -> dict:
    command = [sys.executable, os.path.abspath(__file__), f"--worker={json.dumps(spec)}"]
    env = dict(os.environ)
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if spec["onednn"] == "on":
        env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=FLAGS.timeout,
                              check=False, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {FLAGS.timeout} s"}
    if done.returncode:
        return {"error": f"worker exited with status {done.returncode} (see stderr)"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _disturbance(result: dict) -> float:
    """Share of the CPUs taken by others during the timed training steps (1 for a failed run)."""
    train = result.get("train_step")
    return train["others_cpu_share"] + train["steal_cpu_share"] if train else 1.0


def _machine() -> dict:
    cpu_model, cpu_flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and cpu_model is None:
                    cpu_model = value.strip()
                elif key.strip() == "flags" and not cpu_flags:
                    cpu_flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "cpu_flags": sorted(f for f in wanted if f in cpu_flags),
        "python": platform.python_version(),
        "tensorflow": metadata.version("tensorflow"),
        "keras": metadata.version("keras"),
        "env": {k: os.environ[k] for k in sorted(os.environ)
                if k.startswith(_ENV_PREFIXES)},
    }


def _is_segnet_basic_256(result: dict) -> bool:
    return (result["size"] == 256 and result["batch_size"] == 16
            and result["hparams"] == {"kernel_size": 7, "filters": 64, "depth": 4})


def _best(runs: list[dict]) -> dict:
    train = {r["policy"]: r["train_step"]["median_s"] for r in runs}
    infer = {f"{r['policy']}/{k}": v["patches_per_s"] for r in runs
             for k, v in r["inference"].items() if "patches_per_s" in v}
    best_train, best_infer = min(train, key=train.get), max(infer, key=infer.get)
    return {"train_step_median_s": train, "inference_patches_per_s": infer,
            "best_train": {"setting": best_train, "median_s": train[best_train]},
            "best_inference": {"setting": best_infer, "patches_per_s": infer[best_infer]}}


def _target_section(results: list[dict], reference: dict | None) -> dict | None:
    """SegNet-Basic 256 px / batch 16 against the issue's targets, if it was measured.

    The issue's figures were measured on another CPU (PyTorch: 3.7 s per step, 13.4 patches/s).
    With a PyTorch run on this machine (`--pytorch_python`) every target is scaled by PyTorch's
    speed here over its speed there, so the verdict compares like with like.
    """
    section = {"issue_targets": TARGETS}
    for model in ("segnet", "segnet_baseline"):
        for onednn in ONEDNN:
            for keras_bn in (False, True):
                runs = [r for r in results if r["model"] == model and _is_segnet_basic_256(r)
                        and r["onednn"] == onednn and r["keras_batchnorm"] == keras_bn
                        and "train_step" in r]
                if runs:
                    name = f"{model}/onednn_{onednn}" + ("/keras_bn" if keras_bn else "")
                    section[name] = _best(runs)
    if reference and "best" in reference:
        train_factor = reference["best"]["train"]["median_s"] / TARGETS["pytorch_best_train_step_s"]
        infer_factor = (reference["best"]["inference"]["patches_per_s"]
                        / TARGETS["pytorch_best_inference_patches_per_s"])
        targets = {k: v * (train_factor if k.endswith("_s") else infer_factor)
                   for k, v in TARGETS.items()}
        section["pytorch_here"] = reference["best"]
        section["targets_here"] = {**targets, "basis": "issue targets x (PyTorch here / there)"}
    else:
        targets = TARGETS
    for name in [n for n in section if n.startswith("segnet/") and not n.endswith("keras_bn")]:
        train_s = section[name]["best_train"]["median_s"]
        infer = section[name]["best_inference"]["patches_per_s"]
        section[name]["verdict"] = {
            "train_meets_required": train_s <= targets["required_train_step_s"],
            "train_meets_aim": train_s <= targets["aim_train_step_s"],
            "inference_meets_required": infer >= targets["required_inference_patches_per_s"],
            "inference_meets_aim": infer >= targets["aim_inference_patches_per_s"],
            "train_speed_vs_pytorch_best": targets["pytorch_best_train_step_s"] / train_s,
            "inference_speed_vs_pytorch_best": (
                infer / targets["pytorch_best_inference_patches_per_s"]),
        }
        base = section.get(name.replace("segnet/", "segnet_baseline/"))
        if base:
            # Relative cost of index pooling/unpooling over plain max-pool + upsampling.
            section[name]["index_pooling_train_overhead"] = {
                policy: section[name]["train_step_median_s"][policy] / seconds - 1.0
                for policy, seconds in base["train_step_median_s"].items()
                if policy in section[name]["train_step_median_s"]}
    return section if len(section) > 1 else None


def _run_reference() -> dict | None:
    """The PyTorch SegNet-Basic reference (scripts/benchmark_pytorch_reference.py), or None."""
    if not FLAGS.pytorch_python:
        return None
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "benchmark_pytorch_reference.py")
    command = [FLAGS.pytorch_python, script, f"--settings={','.join(FLAGS.pytorch_settings)}",
               "--size=256", f"--batch_size={FLAGS.batch_size}", f"--filters={FLAGS.filters}",
               f"--depth={FLAGS.depth}", f"--kernel_size={FLAGS.kernel_size}",
               f"--warmup={FLAGS.warmup}", f"--repeats={FLAGS.repeats}", f"--seed={FLAGS.seed}"]
    _log("PyTorch reference: " + " ".join(command))
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=4 * FLAGS.timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    if done.returncode:
        return {"error": f"reference exited with status {done.returncode} (see stderr)"}
    return json.loads(done.stdout)


def main(argv: list[str]) -> None:
    del argv
    if FLAGS.worker:
        spec = json.loads(FLAGS.worker)
        print(json.dumps(run_config(spec)), flush=True)
        return
    document = {"machine": _machine(), "load_avg_start": os.getloadavg(),
                "command": " ".join(sys.argv), "results": []}
    started = time.perf_counter()
    for spec in _configs():
        before = _wait_for_quiet()
        _log(f"{spec['model']} {spec['size']} px {spec['policy']} oneDNN {spec['onednn']}"
             f"{' Keras BN' if spec['keras_batchnorm'] else ''} (load {before['load_avg_1min']:.2f}"
             f" after waiting {before['waited_s']:.0f} s)")
        result = dict(spec, machine_before=before, **_run_subprocess(spec))
        for _ in range(FLAGS.retries):
            if _disturbance(result) <= FLAGS.max_disturbance:
                break
            _log(f"  {100 * _disturbance(result):.0f} % of the CPUs went elsewhere: rerunning")
            again = dict(spec, machine_before=_wait_for_quiet(), **_run_subprocess(spec))
            kept, dropped = sorted([result, again], key=_disturbance)
            kept["disturbed_attempts"] = [
                {k: dropped[k] for k in ("train_step", "inference", "error") if k in dropped},
                *result.get("disturbed_attempts", [])]
            result = kept
        document["results"].append(result)
    document["pytorch_reference"] = _run_reference()
    document["load_avg_end"] = os.getloadavg()
    document["wall_s"] = time.perf_counter() - started
    document["target"] = _target_section(document["results"], document["pytorch_reference"])
    text = json.dumps(document, indent=2)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    define_flags()
    app.run(main)
