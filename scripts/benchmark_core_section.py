"""Seconds and peak memory for one synthetic 1.5 m core section at 500 dpi, and one 4x longer:
background removal (`coretf.preprocess.core_crop`), inference (`coretf.predict`, float32 and
bfloat16) and the colour record (`coretf.analysis.colour_record`, on the core with its exact mask).

  python scripts/benchmark_core_section.py --output=runs/bench/core_section.json [--runs=crop,crop_4x]

A synthetic section (`coretf.synthetic.cores`, 150 cm at 196.85 px/cm: 31,142 x 1,969 px with
the tray and colour card) is written as a tiled TIFF (read tile by tile) and as a strip TIFF
(decoded whole); the 4x longer section repeats it four times along depth. The core, cut out
with its true box, is a tiled RGBA TIFF (the exact mask as alpha) and a PNG with its mask PNG.
Each measurement (PLAN) writes only the inputs it needs, once, under --work_dir. The model is the
demo's SegNet-Basic (3x3 kernels, 32 filters, depth 4) with its trained weights (`make demo`;
seeded random weights otherwise), exported as if trained at 500 dpi, so inference runs at full
resolution (the worst case; a model trained at the demo's 40 px/cm would see a 25x smaller
image). The whole-section figure is the workflow a core analyst runs: background removal of the
photograph, inference on the core it cut out (`float32_core`) and the colour record. Each
measurement runs in its own process, and its peak resident memory (VmHWM) is that run's,
TensorFlow included. The verdict gives, per stage measured at both lengths, the ratio of the 4x
section's peak memory to the 1x one's (`memory_ratio_4x_<run>`); on tiled TIFFs (crop, colour,
float32, float32_half) every stage streams along depth and should stay within MAX_MEMORY_RATIO
(`memory_flat_streamed`); strip TIFFs and PNGs are decoded whole, so theirs grow with length.
mixed_bfloat16 is emulated on CPUs without AVX512_BF16/AMX: it is timed on a 10 cm piece and
scaled to the section. Progress on stderr, JSON on stdout (and --output).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

from absl import app, flags

import benchmark_common as common  # scripts/ is on sys.path when this file runs as a script

FLAGS = flags.FLAGS
PX_PER_CM = 500 / 2.54
TARGET_SECTION_S = 60.0
MAX_MEMORY_RATIO = 1.3  # peak memory of a 4x longer section against the 1x one, streamed inputs
# name: (stage, input file, model, resolution factor). Tiled TIFFs are read tile by tile, so a
# stage on them streams; strip TIFFs and PNGs are decoded whole.
PLAN = {
    "crop": ("crop", "section_tiled.tif", "", 1.0),
    "crop_4x": ("crop", "section_4x_tiled.tif", "", 1.0),
    "crop_strip": ("crop", "section_strip.tif", "", 1.0),
    "crop_4x_strip": ("crop", "section_4x_strip.tif", "", 1.0),
    "float32": ("predict", "section_tiled.tif", "model_float32", 1.0),
    "float32_core": ("predict", "core_tiled.tif", "model_float32", 1.0),
    "float32_half": ("predict", "section_tiled.tif", "model_float32", 0.5),
    "float32_strip": ("predict", "section_strip.tif", "model_float32", 0.5),
    "float32_4x_half": ("predict", "section_4x_tiled.tif", "model_float32", 0.5),
    "float32_4x": ("predict", "section_4x_tiled.tif", "model_float32", 1.0),
    "bf16_piece": ("predict", "piece_tiled.tif", "model_bf16", 1.0),
    "colour": ("colour", "core_rgba_tiled.tif", "", 1.0),
    "colour_4x": ("colour", "core_4x_rgba_tiled.tif", "", 1.0),
    "colour_png": ("colour", "core.png", "", 1.0),
    "colour_4x_png": ("colour", "core_4x.png", "", 1.0),
}
# 1x measurement: its 4x counterpart. The streamed ones should stay within MAX_MEMORY_RATIO.
MEMORY_PAIRS = {"float32_half": "float32_4x_half", "float32": "float32_4x", "crop": "crop_4x",
                "crop_strip": "crop_4x_strip", "colour": "colour_4x", "colour_png": "colour_4x_png"}
STREAMED = ("float32_half", "float32", "crop", "colour")


def define_flags() -> None:
    flags.DEFINE_string("work_dir", "runs/bench/core_section", "Where sections and models go.")
    flags.DEFINE_string("output", None, "Also write the JSON document here.")
    flags.DEFINE_float("length_cm", 150.0, "Section length.")
    flags.DEFINE_string("weights", "runs/demo/best.weights.h5",
                        "Weights of the demo SegNet (`make demo`), used when the file exists.")
    flags.DEFINE_list("runs", list(PLAN), "Which measurements to take (PLAN).")
    # Worker mode: one measurement in this process.
    flags.DEFINE_string("stage", None, "Internal: run one measurement (predict) and print JSON.")
    flags.DEFINE_string("input", None, "Internal: the image.")
    flags.DEFINE_string("model", None, "Internal: the SavedModel.")
    flags.DEFINE_float("resolution_factor", 1.0, "Internal: predict's resolution factor.")


def _inputs(section) -> dict:
    """Writers of the benchmark's input files from the rendered section, by file name."""
    import numpy as np
    import tifffile

    from coretf import io as coretf_io

    image = section.image
    x0, y0, x1, y1 = section.core_box
    # The core cut out with its true box and exact mask, for the colour record.
    core, mask = image[y0:y1, x0:x1], (section.mask[y0:y1, x0:x1] > 0).astype(np.uint8) * 255
    rgba = np.concatenate([core, mask[..., None]], axis=2)  # GIMP-style: alpha 0 = disturbed

    def tiff(array, **kwargs):
        def write(path):
            with coretf_io.atomic_path(path) as tmp:
                tifffile.imwrite(tmp, array() if callable(array) else array, **kwargs)
        return write

    def png(array, mask_name, mask_array):
        def write(path):
            coretf_io.write_image(os.path.join(os.path.dirname(path), "masks", mask_name), mask_array())
            coretf_io.write_image(path, array())
        return write

    tiled = {"tile": (256, 256)}
    return {
        "section_tiled.tif": tiff(image, **tiled),
        "section_strip.tif": tiff(image),
        "piece_tiled.tif": tiff(lambda: np.ascontiguousarray(image[:, :int(10 * PX_PER_CM)]), **tiled),
        "section_4x_tiled.tif": tiff(lambda: np.tile(image, (1, 4, 1)), bigtiff=True, **tiled),
        "section_4x_strip.tif": tiff(lambda: np.tile(image, (1, 4, 1)), bigtiff=True),
        "core_tiled.tif": tiff(lambda: np.ascontiguousarray(core), **tiled),
        "core_rgba_tiled.tif": tiff(rgba, **tiled),
        "core_4x_rgba_tiled.tif": tiff(lambda: np.tile(rgba, (1, 4, 1)), bigtiff=True, **tiled),
        "core.png": png(lambda: core, "core_mask.png", lambda: mask),
        "core_4x.png": png(lambda: np.tile(core, (1, 4, 1)), "core_4x_mask.png", lambda: np.tile(mask, (1, 4))),
    }


def _prepare(work_dir: str, length_cm: float, inputs: set[str], models: set[str]) -> dict:
    """Writes the input files and exported models the measurements need, once; returns paths."""
    paths = {name: os.path.join(work_dir, name) for name in (*inputs, *models)}
    missing = sorted(name for name in inputs if not os.path.exists(paths[name]))
    if missing:
        from coretf.synthetic import cores

        common.log("prepare", f"rendering a {length_cm:g} cm section at {PX_PER_CM:.2f} px/cm for "
                              f"{', '.join(missing)}")
        section = cores.make_section(0, seed=0, length_cm=length_cm, px_per_cm=PX_PER_CM)
        os.makedirs(work_dir, exist_ok=True)
        writers = _inputs(section)
        for name in missing:
            writers[name](paths[name])
    for name in models:
        if not os.path.exists(os.path.join(paths[name], "saved_model.pb")):
            import keras

            from coretf import export as export_lib
            from coretf.models import build_segnet

            keras.utils.set_random_seed(0)
            model = build_segnet(num_classes=2, kernel_size=3, filters=32, depth=4)
            # The demo's trained weights when `make demo` has run: with random weights SegNet's
            # argmax pooling picks among near-ties, and the export's bfloat16 check rightly
            # rejects a model whose pixels flip class under rounding.
            if os.path.exists(FLAGS.weights):
                model.load_weights(FLAGS.weights)
            export_lib.export_saved_model(model, paths[name], {
                "job": "sediment_cores", "input_multiple": 16, "confidence_class": 1,
                "px_per_cm": PX_PER_CM, "tile_size": 256},
                dtype_policy="float32" if name == "model_float32" else "mixed_bfloat16")
    return paths


def _peak_rss_mb() -> float:
    """This process's peak resident memory since its exec, MB (VmHWM). Not ru_maxrss: Linux
    carries that over from the forking parent, which here holds the rendered sections."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return common.rss_mb()


def _stage() -> dict:
    """One measurement in this process: seconds and peak memory."""
    if FLAGS.stage == "crop":
        from coretf.preprocess import background, core_crop_batch

        started = time.perf_counter()
        row = core_crop_batch.crop_file(FLAGS.input, os.path.join(os.path.dirname(FLAGS.input), "out_crop"),
                                        background.CropParams(), core_crop_batch.SectionMeta(px_per_cm=PX_PER_CM))
        return {"seconds": time.perf_counter() - started, "status": row["status"],
                "peak_rss_mb": _peak_rss_mb()}
    if FLAGS.stage == "colour":
        from coretf.analysis import colour_batch

        started = time.perf_counter()
        placement = colour_batch.Placement(px_per_cm=PX_PER_CM, top_depth_cm=0.0, depth_axis="x",
                                           top_px=0, invert_label=False)
        record, _ = colour_batch.measure_section(
            FLAGS.input, os.path.join(os.path.dirname(FLAGS.input), "masks"),
            os.path.join(os.path.dirname(FLAGS.input), "out_colour"), placement)
        return {"seconds": time.perf_counter() - started, "lines": len(record),
                "peak_rss_mb": _peak_rss_mb()}
    rss_before = common.rss_mb()
    import tifffile

    from coretf import inference

    predictor = inference.Predictor(FLAGS.model)
    rss_loaded = common.rss_mb()
    output = os.path.join(os.path.dirname(FLAGS.input), "out_" + os.path.basename(FLAGS.model))
    started = time.perf_counter()
    record = inference.predict_image(predictor, FLAGS.input, output, depth_axis="x",
                                     resolution_factor=FLAGS.resolution_factor, batch_size=4,
                                     progress=False)
    seconds = time.perf_counter() - started
    with tifffile.TiffFile(FLAGS.input) as tiff:
        shape = tiff.pages[0].shape
    return {"seconds": seconds, "megapixels": shape[0] * shape[1] / 1e6,
            "image_mb": shape[0] * shape[1] * 3 / 2**20,
            "inference_megapixels": record["image"]["inference_height"]
            * record["image"]["inference_width"] / 1e6,
            "rss_before_import_mb": rss_before, "rss_model_loaded_mb": rss_loaded,
            "peak_rss_mb": _peak_rss_mb()}


def _measure(name: str, stage: str, input_path: str, model: str, factor: float) -> dict:
    common.log("benchmark", f"{name}: {os.path.basename(input_path)}, {os.path.basename(model)}, "
                            f"resolution factor {factor:g}")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with common.CpuShare() as cpu:
        result = subprocess.run(
            [sys.executable, __file__, f"--stage={stage}", f"--input={input_path}", f"--model={model}",
             f"--resolution_factor={factor}"], capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["stage"], figures["input"] = stage, os.path.basename(input_path)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) / (
        os.cpu_count() * max(figures["seconds"], 1e-9))
    # The worker's CPU shows as "others" to CpuShare; what is left is the rest of the machine.
    figures["others_cpu_share"] = max(0.0, cpu.others - own)
    figures["steal_cpu_share"] = cpu.steal
    common.log("benchmark", f"  {figures['seconds']:.1f} s, peak {figures['peak_rss_mb']:.0f} MB")
    return figures


def main(argv):
    del argv
    if FLAGS.stage:
        print(json.dumps(_stage()))
        return
    unknown = [name for name in FLAGS.runs if name not in PLAN]
    if unknown:
        raise app.UsageError(f"--runs: unknown measurement(s) {unknown}; known: {list(PLAN)}")
    chosen = {name: PLAN[name] for name in FLAGS.runs}
    paths = _prepare(FLAGS.work_dir, FLAGS.length_cm, {p[1] for p in chosen.values()},
                     {p[2] for p in chosen.values() if p[2]})
    plan = {name: (stage, paths[image], paths[model] if model else "", factor)
            for name, (stage, image, model, factor) in chosen.items()}
    results = {name: _measure(name, *plan[name]) for name in FLAGS.runs}
    if "bf16_piece" in results:
        piece = results["bf16_piece"]
        section_mp = results.get("float32", {}).get("megapixels", piece["megapixels"] * FLAGS.length_cm / 10)
        piece["section_seconds_scaled"] = piece["seconds"] * section_mp / piece["megapixels"]
    verdict = {}
    if "float32" in results:
        verdict["section_seconds_full_resolution"] = results["float32"]["seconds"]
        verdict["within_target_full_resolution"] = results["float32"]["seconds"] <= TARGET_SECTION_S
    if "float32_half" in results:
        verdict["within_target_half_resolution"] = results["float32_half"]["seconds"] <= TARGET_SECTION_S
    stages = [results.get(k, {}).get("seconds") for k in ("crop", "float32_core", "colour")]
    if all(stages):
        verdict["section_seconds_crop_predict_colour"] = sum(stages)
        verdict["within_target_whole_section"] = sum(stages) <= TARGET_SECTION_S
    ratios = {a: results[b]["peak_rss_mb"] / results[a]["peak_rss_mb"]
              for a, b in MEMORY_PAIRS.items() if a in results and b in results}
    for a, ratio in ratios.items():
        verdict[f"memory_ratio_4x_{a}"] = ratio
    streamed = [ratio for a, ratio in ratios.items() if a in STREAMED]
    if streamed:
        verdict["memory_ratio_4x_max_streamed"] = max(streamed)
        verdict["memory_flat_streamed"] = max(streamed) <= MAX_MEMORY_RATIO
    document = {"machine": common.machine(), "px_per_cm": PX_PER_CM, "target_section_s": TARGET_SECTION_S,
                "results": results, "verdict": verdict}
    text = json.dumps(document, indent=2)
    print(text)
    if FLAGS.output:
        from coretf.io import write_text

        write_text(FLAGS.output, text)


if __name__ == "__main__":
    define_flags()
    app.run(main)
