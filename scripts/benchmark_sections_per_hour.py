"""Sections per hour through the whole chain (background removal -> inference -> colour record) on
this machine: the three local commands in turn, and `coretf.pipeline --job=sediment_cores` on
Beam's DirectRunner with one and with two worker processes.

  python scripts/benchmark_sections_per_hour.py --output=runs/bench/sections_per_hour.json

The photographs are synthetic 1.5 m sections at 500 dpi (`coretf.synthetic.cores`, each with its
tray and colour card: 31,142 x 1,969 px, 184 MB of RGB), written once as strip TIFFs (as a
scanner writes them), one seed each, with the lab's sections.csv (196.85 px/cm, depth along x,
150 cm). The model is the demo's SegNet-Basic (3x3 kernels, 32 filters, depth 4; `make demo`'s
export when it exists, else the same network with seeded weights, which costs the same) declared
at --model_px_per_cm (40, the demo's scale: predict resamples each section to it, as it does for
a lab); --model_px_per_cm=196.85 infers at full resolution, the worst case. Each run is a fresh
output folder and its own processes; CPU time is the machine's busy time during the run
(/proc/stat, so run it on a quiet machine: `others_cpu_share` in the benchmark's other scripts
says how quiet). Progress on stderr, JSON on stdout (and --output).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from absl import app, flags

import benchmark_common as common  # scripts/ is on sys.path when this file runs as a script

FLAGS = flags.FLAGS
PX_PER_CM = 500 / 2.54
TARGET_SPEEDUP, TARGET_CPU_S = 1.8, 30.0  # issue 17: both cores busy; <= 30 s of CPU per core


def define_flags() -> None:
    flags.DEFINE_string("work_dir", "runs/bench/sections_per_hour", "Where photographs, model and runs go.")
    flags.DEFINE_string("output", None, "Also write the JSON document here.")
    flags.DEFINE_integer("sections", 4, "Section photographs per run.")
    flags.DEFINE_float("length_cm", 150.0, "Section length, cm.")
    flags.DEFINE_float("model_px_per_cm", 40.0, "Scale the model declares (predict resamples to it).")
    flags.DEFINE_string("weights", "runs/demo/best.weights.h5", "The demo's weights, used when the file exists.")
    flags.DEFINE_list("runs", ["local", "beam_1", "beam_2"], "Which runs to time.")


def _prepare(work_dir: str) -> dict:
    """Writes the photographs, sections.csv and the exported model once; returns their paths."""
    import numpy as np
    import tifffile

    photos = os.path.join(work_dir, f"photos_{FLAGS.length_cm:g}cm")
    os.makedirs(photos, exist_ok=True)
    names = [f"S{i:02d}" for i in range(FLAGS.sections)]
    for index, name in enumerate(names):
        path = os.path.join(photos, f"{name}.tif")
        if not os.path.exists(path):
            from coretf import io as coretf_io
            from coretf.synthetic import cores

            common.log("prepare", f"rendering {name}: {FLAGS.length_cm:g} cm at {PX_PER_CM:.2f} px/cm")
            image = cores.make_section(index, seed=index, length_cm=FLAGS.length_cm, px_per_cm=PX_PER_CM).image
            with coretf_io.atomic_path(path) as tmp:
                tifffile.imwrite(tmp, np.ascontiguousarray(image))
    table = os.path.join(work_dir, "sections.csv")
    with open(table, "w") as f:
        f.write("section,px_per_cm,top_depth_cm,depth_axis,expected_length_cm\n")
        f.writelines(f"{name},{PX_PER_CM},{FLAGS.length_cm * i:g},x,{FLAGS.length_cm:g}\n" for i, name in enumerate(names))
    model = os.path.join(work_dir, f"model_{FLAGS.model_px_per_cm:g}")
    if not os.path.exists(os.path.join(model, "saved_model.pb")):
        import keras

        from coretf import export as export_lib
        from coretf.models import build_segnet

        keras.utils.set_random_seed(0)
        network = build_segnet(num_classes=2, kernel_size=3, filters=32, depth=4)
        if os.path.exists(FLAGS.weights):
            network.load_weights(FLAGS.weights)
        export_lib.export_saved_model(network, model, {
            "job": "sediment_cores", "input_multiple": 16, "confidence_class": 1, "iou_class": 0,
            "class_names": ["disturbed_or_background", "undisturbed"],
            "px_per_cm": FLAGS.model_px_per_cm, "tile_size": 128})
    return {"photos": photos, "sections": table, "model": model, "names": names}


def _timed(commands: list[list[str]]) -> dict:
    """Runs the commands in turn; wall seconds and the machine's busy CPU seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    busy_before = common._cpu_ticks()[0]
    started = time.perf_counter()
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-2000:]}"
                               f"\n{result.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_seconds": (common._cpu_ticks()[0] - busy_before) / ticks}


def _commands(run: str, paths: dict, output: str) -> list[list[str]]:
    python, tables = sys.executable, f"--sections={paths['sections']}"
    if run == "local":
        crops, predicted = os.path.join(output, "crops"), os.path.join(output, "predicted")
        return [[python, "-m", "coretf.preprocess.core_crop", f"--input={paths['photos']}", f"--output={crops}",
                 tables, "--workers=2"],
                [python, "-m", "coretf.predict", f"--model={paths['model']}", f"--input={crops}",
                 f"--output={predicted}", tables],
                [python, "-m", "coretf.analysis.colour_record", f"--input={crops}", f"--masks={predicted}",
                 f"--output={os.path.join(output, 'colour')}", tables]]
    workers = int(run.split("_")[1])
    return [[python, "-m", "coretf.pipeline", "--job=sediment_cores", f"--input={paths['photos']}",
             f"--output={output}", f"--model={paths['model']}", tables, "--",
             "--runner=DirectRunner", f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]]


def main(argv) -> None:
    del argv
    paths = _prepare(FLAGS.work_dir)
    cpus = os.cpu_count() or 1
    results = {}
    for run in FLAGS.runs:
        output = os.path.join(FLAGS.work_dir, f"out_{run}")
        shutil.rmtree(output, ignore_errors=True)
        common.log(run, f"{len(paths['names'])} sections")
        timing = _timed(_commands(run, paths, output))
        n = len(paths["names"])
        results[run] = {**timing, "sections_per_hour": 3600 * n / timing["seconds"],
                        "cpu_seconds_per_section": timing["cpu_seconds"] / n,
                        "cpu_seconds_per_section_per_core": timing["cpu_seconds"] / n / cpus,
                        "cores_busy": timing["cpu_seconds"] / (timing["seconds"] * cpus)}
        common.log(run, f"{results[run]['sections_per_hour']:.0f} sections/h, "
                        f"{results[run]['cpu_seconds_per_section']:.1f} CPU s per section")
    verdict = {}
    if "beam_1" in results and "beam_2" in results:
        verdict["speedup_2_workers"] = results["beam_2"]["sections_per_hour"] / results["beam_1"]["sections_per_hour"]
    if "local" in results and "beam_2" in results:
        verdict["beam_2_over_local"] = results["beam_2"]["sections_per_hour"] / results["local"]["sections_per_hour"]
    best = min(results.values(), key=lambda r: r["cpu_seconds_per_section"])
    verdict.update(cpu_seconds_per_section_per_core=best["cpu_seconds_per_section_per_core"],
                   target_cpu_seconds_per_core=TARGET_CPU_S, target_speedup=TARGET_SPEEDUP,
                   cpu_goal_met=best["cpu_seconds_per_section_per_core"] <= TARGET_CPU_S)
    if "speedup_2_workers" in verdict:
        verdict["speedup_goal_met"] = verdict["speedup_2_workers"] >= TARGET_SPEEDUP
    document = {"machine": common.machine(), "sections": len(paths["names"]), "px_per_cm": PX_PER_CM,
                "length_cm": FLAGS.length_cm, "model_px_per_cm": FLAGS.model_px_per_cm, "results": results,
                "verdict": verdict}
    text = json.dumps(document, indent=1)
    print(text)
    if FLAGS.output:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
        with open(FLAGS.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    define_flags()
    app.run(main)
