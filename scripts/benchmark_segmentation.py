"""Training and inference speed and peak memory of the coretf segmentation models on this machine.

  # SegNet-Basic (7x7, 64 filters, depth 4, 256 px, batch 16) against PyTorch on this machine,
  # and coretf's kernel and BatchNorm choices against TensorFlow's defaults, interleaved
  # (PyTorch: see scripts/benchmark_pytorch_reference.py):
  python scripts/benchmark_segmentation.py --target --interleave --policies=float32 \\
      --onednn=on,tf_default --keras_batchnorm=both --profile \\
      --pytorch_python=/tmp/torchenv/bin/python --pytorch_settings=float32,float32_cl \\
      --output=runs/bench/target.json
  # The grid (every model x size x policy, plus the plain-pooling SegNet baseline):
  python scripts/benchmark_segmentation.py --models=segnet,unet,fcn8 --sizes=128,256 \\
      --policies=float32,mixed_bfloat16 --max_timed_seconds=60 --output=runs/grid.json

Each configuration runs in its own subprocess (scripts/benchmark_segmentation_worker.py), so `ru_maxrss` is that configuration's peak
resident memory (TensorFlow's import included: see `rss_after_import_mb`). A training step is
`model.train_on_batch` with the loss and optimizer of `coretf.train` (`WeightedSparseCrossEntropy`,
Adam 1e-3; no metrics) on random data with a fixed seed; inference is `model(x, training=False)`
inside a `tf.function`, for the trained model and for its `fold_batchnorm` copy (what the
SavedModel serves). "segnet_baseline" is SegNet-Basic with `MaxPooling2D` and `UpSampling2D` in
place of index pooling and unpooling: the same convolutions, so the difference is the cost of the
indices. `--onednn` and `--keras_batchnorm` measure coretf's two speed choices against
TensorFlow's defaults; `--profile` splits a training step's thread time by kind of op.

The machine is shared and virtual: every timing records the share of the CPUs that other
processes and the hypervisor took meanwhile, and the host's speed also drifts unseen (the same
configuration has measured 22.8 s and 27.5 s per step forty minutes apart). So `--interleave`
keeps every configuration warm in its own process and times them in turn, one step each per
cycle (`benchmark_common.alternate`), and every comparison, the verdict against PyTorch
included, is the median of per-cycle ratios. Progress goes to stderr, the JSON document to
stdout (and `--output`).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

from absl import app, flags

import benchmark_common as common  # scripts/ is on sys.path when this file runs as a script

FLAGS = flags.FLAGS

MODEL_NAMES = ("segnet", "segnet_baseline", "unet", "fcn8")
ONEDNN = ("on", "tf_default")
# SegNet-Basic at 256 px, batch 16, as the foundation issue states them: PyTorch 2.13 on the
# machine the issue was written on (best setting: bf16 autocast + channels_last), and what
# coretf must reach / aims at there. With a PyTorch run here they become ratios to PyTorch.
TARGETS = {
    "pytorch_best_train_step_s": 3.7,
    "pytorch_float32_train_step_s": 6.9,
    "pytorch_best_inference_patches_per_s": 13.4,
    "required_train_step_s": 3.7,
    "aim_train_step_s": 3.4,
    "required_inference_patches_per_s": 17.0,
    "aim_inference_patches_per_s": 20.0,
}
# The same targets as speed ratios to PyTorch's best (> 1: faster than PyTorch).
RATIO_TARGETS = {
    "train_required": TARGETS["pytorch_best_train_step_s"] / TARGETS["required_train_step_s"],
    "train_aim": TARGETS["pytorch_best_train_step_s"] / TARGETS["aim_train_step_s"],
    "inference_required": (TARGETS["required_inference_patches_per_s"]
                           / TARGETS["pytorch_best_inference_patches_per_s"]),
    "inference_aim": (TARGETS["aim_inference_patches_per_s"]
                      / TARGETS["pytorch_best_inference_patches_per_s"]),
}


def define_flags() -> None:
    flags.DEFINE_list("models", ["segnet", "unet", "fcn8"], f"Models, from {MODEL_NAMES}.")
    flags.DEFINE_list("sizes", ["128", "256"], "Square patch sides in pixels.")
    flags.DEFINE_list("policies", ["float32", "mixed_bfloat16"], "Keras dtype policies.")
    flags.DEFINE_integer("batch_size", 16, "Batch size of training and inference.")
    flags.DEFINE_integer("repeats", 5, "Timed training steps per configuration after warm-up.")
    flags.DEFINE_integer("infer_repeats", 5, "Timed inference calls per inference variant.")
    flags.DEFINE_boolean("interleave", False,
                         "Keep every configuration (and PyTorch setting) warm in its own process "
                         "and time them in turn, one step each per cycle, so that they are "
                         "compared within cycles: a shared VM's speed drifts by 10-20 % over "
                         "minutes. Memory: all models at once. Otherwise one after another.")
    flags.DEFINE_integer("warmup", 2, "Untimed steps (and calls) first; the first one traces.")
    flags.DEFINE_float("max_timed_seconds", 0.0,
                       "If > 0, cap the timed training steps, and the calls of each inference "
                       "variant, to fit this many seconds per configuration (never fewer than "
                       "3); the JSON records the counts.")
    flags.DEFINE_boolean("baseline", True,
                         "With segnet, also run segnet_baseline (plain max-pool + upsampling).")
    flags.DEFINE_boolean("target", False,
                         "Run only SegNet-Basic at 256 px (each --policies) and, with "
                         "--baseline, its plain-pooling baseline.")
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
                        "with the same SegNet-Basic, size and batch, and judge the target "
                        "against it (see that script for the environment).")
    flags.DEFINE_list("pytorch_settings", ["float32", "float32_cl", "bf16", "bf16_cl"],
                      "Settings of the PyTorch reference (bf16 only where the CPU has it).")
    flags.DEFINE_float("wait_load", 1.2,
                       "Before each configuration wait until the 1-minute load average is below "
                       "this and other processes used < 10 percent of the CPUs over 3 s (0: off).")
    flags.DEFINE_integer("wait_max_s", 900, "Longest wait for a quiet machine, in seconds.")
    flags.DEFINE_boolean("profile", False,
                         "Also trace one training step with the TensorFlow profiler and report "
                         "the thread time of each kind of op (conv forward / backward-input / "
                         "backward-filter, batch norm, index pooling, optimizer, ...).")
    flags.DEFINE_integer("seed", 0, "Seed of weights and random data.")
    flags.DEFINE_string("output", None, "Also write the JSON document here.")



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
        models, sizes = ["segnet"], [256]
    else:
        models, sizes = list(FLAGS.models), [int(s) for s in FLAGS.sizes]
    if FLAGS.baseline and "segnet" in models and "segnet_baseline" not in models:
        models.insert(models.index("segnet") + 1, "segnet_baseline")
    unknown = set(models) - set(MODEL_NAMES)
    if unknown:
        raise app.UsageError(f"--models: unknown {sorted(unknown)}; choose from {MODEL_NAMES}")
    bad = set(FLAGS.onednn) - set(ONEDNN)
    if bad:
        raise app.UsageError(f"--onednn: unknown {sorted(bad)}; choose from {ONEDNN}")
    common_spec = {k: getattr(FLAGS, k) for k in (
        "batch_size", "warmup", "num_classes", "jit_compile", "infer_xla", "intra_op_threads",
        "inter_op_threads", "seed", "profile")}
    keras_bn = {"off": [False], "on": [True], "both": [False, True]}[FLAGS.keras_batchnorm]
    specs = [dict(common_spec, model=m, size=s, policy=p, keras_batchnorm=k, onednn=o,
                  hparams=_hparams(m))
             for m in models for s in sizes for o in FLAGS.onednn for k in keras_bn
             for p in FLAGS.policies]
    for spec in specs:
        spec["name"] = (f"{spec['model']}/{spec['size']}/{spec['policy']}/onednn_{spec['onednn']}"
                        + ("/keras_bn" if spec["keras_batchnorm"] else ""))
    return specs


def _pytorch_specs(configs: list[dict]) -> list[dict]:
    segnets = [c for c in configs if c["model"] == "segnet"]
    if not FLAGS.pytorch_python or not segnets:
        return []
    size = max(c["size"] for c in segnets)
    return [{"name": f"pytorch/{size}/{setting}", "setting": setting, "size": size,
             "batch_size": FLAGS.batch_size, "filters": FLAGS.filters, "depth": FLAGS.depth,
             "kernel_size": FLAGS.kernel_size, "warmup": FLAGS.warmup, "seed": FLAGS.seed}
            for setting in FLAGS.pytorch_settings]


def _start(spec: dict) -> common.Worker:
    """The worker of a TensorFlow configuration or of a PyTorch setting, warmed up."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    if "setting" in spec:
        command = [FLAGS.pytorch_python, os.path.join(here, "benchmark_pytorch_reference.py")]
    else:
        command = [sys.executable, os.path.join(here, "benchmark_segmentation_worker.py")]
        env.pop("TF_ENABLE_ONEDNN_OPTS", None)
        if spec["onednn"] == "on":
            env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    common.log("benchmark", f"starting {spec['name']}")
    worker = common.Worker(spec["name"], command + [json.dumps(spec)], env=env)
    common.log("benchmark", f"  {spec['name']} warm: first step {worker.ready['first_step_s']:.2f} s, "
               f"then {worker.ready['warm_step_s']:.2f} s")
    return worker


def _cycles(workers: list[common.Worker], repeats: int, key: str) -> int:
    """Cycles that fit --max_timed_seconds per configuration (at least 3), else `repeats`."""
    seconds = max(w.ready[key] for w in workers)
    if FLAGS.max_timed_seconds <= 0 or seconds <= 0:
        return repeats
    return min(repeats, max(3, int(FLAGS.max_timed_seconds // seconds)))


def _timings(replies: list[dict], batch: int | None = None) -> dict:
    out = common.summary([r["s"] for r in replies])
    out["others_cpu_share"] = statistics.mean(r["others"] for r in replies)
    out["steal_cpu_share"] = statistics.mean(r["steal"] for r in replies)
    if batch:
        out["patches_per_s"] = batch / out["median_s"]
    return out


def _measure(specs: list[dict], group: int) -> list[dict]:
    """Times `specs` together (interleaved, see `common.alternate`); one result per spec, each
    marked with `group` (results of one group were measured cycle by cycle together)."""
    before = common.wait_for_quiet(FLAGS.wait_load, FLAGS.wait_max_s)
    workers, results = [], {}
    try:
        for spec in specs:
            try:
                workers.append(_start(spec))
            except common.WorkerError as error:
                common.log("benchmark", f"  {error}")
                results[spec["name"]] = dict(spec, error=str(error))
        if not workers:
            return list(results.values())
        train = common.alternate(workers, _cycles(workers, FLAGS.repeats, "warm_step_s"), "train")
        infer_cycles = _cycles(workers, FLAGS.infer_repeats, "warm_step_s")
        variants = sorted({v for w in workers for v in w.ready["inference_variants"]})
        infer = {v: common.alternate([w for w in workers if v in w.ready["inference_variants"]],
                                     infer_cycles, "infer", variant=v) for v in variants}
        for worker, spec in zip(workers, [s for s in specs if s["name"] not in results]):
            result = dict(spec, machine_before=before, group=group,
                          **worker.ready, **worker.call("report"))
            result["train_step"] = _timings(train[worker.name])
            result["inference"] = {v: _timings(r[worker.name], spec["batch_size"])
                                   for v, r in infer.items() if worker.name in r}
            results[spec["name"]] = result
            figures = ", ".join(f"{v} {t['patches_per_s']:.2f}" for v, t in
                                result["inference"].items())
            common.log("benchmark", f"  {spec['name']}: train step "
                       f"{result['train_step']['median_s']:.3f} s; inference patches/s {figures}")
            if isinstance(result.get("profile"), dict):
                common.log("benchmark", "    thread time: " + ", ".join(
                    f"{k} {100 * v:.0f} %" for k, v in sorted(result["profile"]["share"].items(),
                                                               key=lambda kv: -kv[1])))
    finally:
        for worker in workers:
            worker.close()
    return [results[s["name"]] for s in specs]


# ---------------------------------------------------------------------------------------------
# The summary.


def _is_segnet_basic_256(result: dict) -> bool:
    return (result.get("model") in ("segnet", "segnet_baseline") and result["size"] == 256
            and result["batch_size"] == 16
            and result["hparams"] == {"kernel_size": 7, "filters": 64, "depth": 4})


def _best_inference(result: dict) -> str:
    return max(result["inference"], key=lambda v: result["inference"][v]["patches_per_s"])


def _ratio(a: dict, b: dict, what: str) -> dict:
    """Median over cycles of a/b: training time ("train") or best inference speed ("infer").

    Lists of interleaved results are aligned by cycle; otherwise (timed apart) the ratio of the
    medians is all there is, and "paired" says so.
    """
    if what == "train":
        xs, ys = a["train_step"]["all_s"], b["train_step"]["all_s"]
    else:
        xs = [a["batch_size"] / t for t in a["inference"][_best_inference(a)]["all_s"]]
        ys = [b["batch_size"] / t for t in b["inference"][_best_inference(b)]["all_s"]]
    paired = a.get("group") == b.get("group") and len(xs) == len(ys)
    if paired:
        ratios = [x / y for x, y in zip(xs, ys)]
        return {"median": statistics.median(ratios), "all": [round(r, 4) for r in ratios],
                "paired": True}
    return {"median": statistics.median(xs) / statistics.median(ys), "paired": False}


def _target_section(results: list[dict], references: list[dict]) -> dict | None:
    """SegNet-Basic 256 px / batch 16: coretf's setting against PyTorch and the alternatives.

    coretf's setting is SegNet with fused BatchNorm and oneDNN on; of its dtype policies the one
    that trains fastest. With PyTorch measured here the issue's targets are judged as speed ratios
    to PyTorch's fastest setting (RATIO_TARGETS); without, against the issue's absolute figures.
    """
    segnet = [r for r in results if "train_step" in r and _is_segnet_basic_256(r)]
    ours = [r for r in segnet if r["model"] == "segnet" and r["onednn"] == "on"
            and not r["keras_batchnorm"]]
    if not ours:
        return None
    mine = min(ours, key=lambda r: r["train_step"]["median_s"])
    section = {"issue_targets": TARGETS, "ratio_targets": RATIO_TARGETS, "coretf": mine["name"],
               "figures": {}, "vs_coretf": {}}
    for r in segnet + [ref for ref in references if "train_step" in ref]:
        section["figures"][r["name"]] = {
            "train_step_s": r["train_step"]["median_s"],
            "inference_patches_per_s": r["inference"][_best_inference(r)]["patches_per_s"],
            "inference_variant": _best_inference(r)}
        if r is not mine:
            # train: > 1 means slower than coretf; inference: > 1 means faster than coretf.
            section["vs_coretf"][r["name"]] = {"train_time": _ratio(r, mine, "train"),
                                               "inference_speed": _ratio(r, mine, "infer")}
    torch_runs = [ref for ref in references if "train_step" in ref]
    if torch_runs:
        fastest = min(torch_runs, key=lambda r: r["train_step"]["median_s"])
        quickest = max(torch_runs, key=lambda r: r["inference"]["eval"]["patches_per_s"])
        train = _ratio(fastest, mine, "train")["median"]  # PyTorch time / coretf time
        infer = 1.0 / _ratio(quickest, mine, "infer")["median"]  # coretf speed / PyTorch speed
        section["vs_pytorch"] = {"pytorch_train": fastest["name"], "train_speed": train,
                                 "pytorch_inference": quickest["name"], "inference_speed": infer}
        section["verdict"] = {
            "train_meets_required": train >= RATIO_TARGETS["train_required"],
            "train_meets_aim": train >= RATIO_TARGETS["train_aim"],
            "inference_meets_required": infer >= RATIO_TARGETS["inference_required"],
            "inference_meets_aim": infer >= RATIO_TARGETS["inference_aim"],
            "basis": "speed ratios to PyTorch's fastest setting on this machine",
        }
    else:
        figures = section["figures"][mine["name"]]
        section["verdict"] = {
            "train_meets_required": figures["train_step_s"] <= TARGETS["required_train_step_s"],
            "train_meets_aim": figures["train_step_s"] <= TARGETS["aim_train_step_s"],
            "inference_meets_required": (figures["inference_patches_per_s"]
                                         >= TARGETS["required_inference_patches_per_s"]),
            "inference_meets_aim": (figures["inference_patches_per_s"]
                                    >= TARGETS["aim_inference_patches_per_s"]),
            "basis": "the issue's absolute figures (no PyTorch run: --pytorch_python)",
        }
    return section


def main(argv: list[str]) -> None:
    del argv
    configs, references = _configs(), []
    document = {"machine": common.machine(("tensorflow", "keras")),
                "load_avg_start": os.getloadavg(), "command": " ".join(sys.argv)}
    started = time.perf_counter()
    torch_specs = _pytorch_specs(configs)
    if FLAGS.interleave:
        measured = _measure(configs + torch_specs, group=0)
    else:
        measured = [r for i, spec in enumerate(configs + torch_specs) for r in _measure([spec], i)]
    document["results"] = [r for r in measured if "setting" not in r]
    document["pytorch_reference"] = references = [r for r in measured if "setting" in r]
    document["load_avg_end"] = os.getloadavg()
    document["wall_s"] = time.perf_counter() - started
    document["target"] = _target_section(document["results"], references)
    text = json.dumps(document, indent=2)
    if FLAGS.output:
        from coretf.io import write_text

        write_text(FLAGS.output, text + "\n")
    print(text)


if __name__ == "__main__":
    define_flags()
    app.run(main)
