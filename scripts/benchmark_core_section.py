"""Seconds and peak memory for one synthetic 1.5 m core section at 500 dpi, and one 4x longer:
background removal (`coretf.preprocess.core_crop`), inference (`coretf.predict`, float32 and
bfloat16) and the colour record (`coretf.analysis.colour_record`, on the core with its exact mask).

  python scripts/benchmark_core_section.py --output=runs/bench/core_section.json

A synthetic section (`coretf.synthetic.cores`, 150 cm at 196.85 px/cm: 31,142 x 1,969 px with
the tray and colour card) is written as a tiled TIFF (read tile by tile) and as a strip TIFF
(decoded whole); the 4x longer section repeats it four times along depth. The model is the
demo's SegNet-Basic (3x3 kernels, 32 filters, depth 4) with its trained weights (`make demo`;
seeded random weights otherwise), exported as if trained at 500 dpi, so inference runs at full resolution (the worst case; a model trained at
the demo's 40 px/cm would see a 25x smaller image). The whole-section figure is the workflow a
core analyst runs: background removal of the photograph, inference on the core it cut out
(`float32_core`) and the colour record. Each measurement runs `coretf.predict` in its
own process, and its peak resident memory (VmHWM) is that run's, TensorFlow included.
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


def define_flags() -> None:
    flags.DEFINE_string("work_dir", "runs/bench/core_section", "Where sections and models go.")
    flags.DEFINE_string("output", None, "Also write the JSON document here.")
    flags.DEFINE_float("length_cm", 150.0, "Section length.")
    flags.DEFINE_string("weights", "runs/demo/best.weights.h5",
                        "Weights of the demo SegNet (`make demo`), used when the file exists.")
    flags.DEFINE_list("runs", ["crop", "crop_4x", "float32", "float32_core", "float32_half", "float32_strip",
                               "float32_4x_half", "float32_4x", "bf16_piece", "colour", "colour_4x"],
                      "Which measurements to take.")
    # Worker mode: one measurement in this process.
    flags.DEFINE_string("stage", None, "Internal: run one measurement (predict) and print JSON.")
    flags.DEFINE_string("input", None, "Internal: the image.")
    flags.DEFINE_string("model", None, "Internal: the SavedModel.")
    flags.DEFINE_float("resolution_factor", 1.0, "Internal: predict's resolution factor.")


def _prepare(work_dir: str, length_cm: float) -> dict:
    """Writes the sections and the two exported models once; returns their paths."""
    import numpy as np
    import tifffile

    paths = {name: os.path.join(work_dir, name) for name in (
        "section_tiled.tif", "section_strip.tif", "section_4x_tiled.tif", "piece_tiled.tif",
        "section_4x_strip.tif", "core.png", "core_4x.png", "core_tiled.tif", "masks",
        "model_float32", "model_bf16")}
    if not all(os.path.exists(p) for k, p in paths.items() if "." in k):
        from coretf.synthetic import cores

        common.log("prepare", f"rendering a {length_cm:g} cm section at {PX_PER_CM:.2f} px/cm")
        section = cores.make_section(0, seed=0, length_cm=length_cm, px_per_cm=PX_PER_CM)
        image = section.image
        os.makedirs(work_dir, exist_ok=True)
        tifffile.imwrite(paths["section_tiled.tif"], image, tile=(256, 256))
        tifffile.imwrite(paths["section_strip.tif"], image)
        tifffile.imwrite(paths["piece_tiled.tif"], np.ascontiguousarray(image[:, :int(10 * PX_PER_CM)]),
                         tile=(256, 256))
        tifffile.imwrite(paths["section_4x_tiled.tif"], np.tile(image, (1, 4, 1)), tile=(256, 256),
                         bigtiff=True)
        tifffile.imwrite(paths["section_4x_strip.tif"], np.tile(image, (1, 4, 1)), bigtiff=True)
        # The core cut out with its true box and exact mask, for the colour record.
        from coretf import io as coretf_io

        x0, y0, x1, y1 = section.core_box
        core, mask = image[y0:y1, x0:x1], (section.mask[y0:y1, x0:x1] > 0).astype(np.uint8) * 255
        coretf_io.write_image(paths["core.png"], core)
        coretf_io.write_image(os.path.join(paths["masks"], "core_mask.png"), mask)
        coretf_io.write_image(os.path.join(paths["masks"], "core_4x_mask.png"), np.tile(mask, (1, 4)))
        coretf_io.write_image(paths["core_4x.png"], np.tile(core, (1, 4, 1)))
        tifffile.imwrite(paths["core_tiled.tif"], core, tile=(256, 256))
    for policy in ("float32", "bf16"):
        if not os.path.exists(os.path.join(paths[f"model_{policy}"], "saved_model.pb")):
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
            export_lib.export_saved_model(model, paths[f"model_{policy}"], {
                "job": "sediment_cores", "input_multiple": 16, "confidence_class": 1,
                "px_per_cm": PX_PER_CM, "tile_size": 256},
                dtype_policy="float32" if policy == "float32" else "mixed_bfloat16")
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
    figures["stage"] = stage
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
    paths = _prepare(FLAGS.work_dir, FLAGS.length_cm)
    plan = {
        "crop": ("crop", paths["section_strip.tif"], "", 1.0),
        "crop_4x": ("crop", paths["section_4x_strip.tif"], "", 1.0),
        "float32": ("predict", paths["section_tiled.tif"], paths["model_float32"], 1.0),
        "float32_core": ("predict", paths["core_tiled.tif"], paths["model_float32"], 1.0),
        "float32_half": ("predict", paths["section_tiled.tif"], paths["model_float32"], 0.5),
        "float32_strip": ("predict", paths["section_strip.tif"], paths["model_float32"], 0.5),
        "float32_4x_half": ("predict", paths["section_4x_tiled.tif"], paths["model_float32"], 0.5),
        "float32_4x": ("predict", paths["section_4x_tiled.tif"], paths["model_float32"], 1.0),
        "bf16_piece": ("predict", paths["piece_tiled.tif"], paths["model_bf16"], 1.0),
        "colour": ("colour", paths["core.png"], "", 1.0),
        "colour_4x": ("colour", paths["core_4x.png"], "", 1.0),
    }
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
    for a, b in (("float32_half", "float32_4x_half"), ("float32", "float32_4x"), ("crop", "crop_4x"),
                 ("colour", "colour_4x")):
        if a in results and b in results:
            verdict[f"memory_ratio_4x_{a}"] = results[b]["peak_rss_mb"] / results[a]["peak_rss_mb"]
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
