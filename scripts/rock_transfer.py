"""rock_ct on real pore geometry: zero-shot transfer from synthetic data, and a fine-tuning curve.

    python scripts/rock_transfer.py [--flagfile=trainers/rock_ct_transfer_fast.flags] [--output=...]

(without --flagfile, trainers/rock_ct_transfer_fast.flags is read).

There are no real grey rock CT scans with pore masks in `shared/realdata`, so the real pore
segmentations there (PoreSpy fixtures: Bentheimer 500^3, Berea 200^3, Leopard 100^3, see their
PROVENANCE.md) are scanned as CT slices by `coretf.synthetic.rock_scan`, a scanner unlike the
training generators' (voxel-size change, partial volume, cupping, blur, ring artefacts, noise):
"real-geometry scans", truth = the real segmentation. Then, in --output:

1. `scans/<scan>/images|masks/`: the scanned slices (SCANS: Bentheimer's first 8 are the
   labelled pool of the learning curve, its last 8 the held-out slices; 8 of Berea, 8 of Leopard).
2. `zero_shot_<config>/`: the rock_ct U-Net (the flagfile's settings) trained only on synthetic
   data, once on the base generator (`synthetic_small`) and once on the domain-randomised one
   (`synthetic_varied`), the same number of steps and training slices; each export segments
   every scanned slice through `coretf.inference.predict_image` (predict's path); Otsu (and
   Otsu after a 3x3 median) segment the same slices.
3. `curve/n<k>_<start>/`: the U-Net trained on k = 1, 2, 4, 8 labelled Bentheimer slices (a lab's
   flat `Bentheimer_images/` + `Bentheimer_masks/` folder with the other scans beside it, the
   manual config, the last 8 slices held out by --rock_holdout), from scratch and from the
   varied synthetic model (`--init_from`), each evaluated on the held-out Bentheimer slices and
   the other scans, through predict's path.
4. `results.json` (every figure) and `table.md`; the JSON is printed.

Figures per slice set: IoU of the pore class pooled over its slices, and the pore fraction
predicted against the true one. Every stage is resumable: a model directory with its
`real_scans.json` is not trained or measured again, a scanned slice on disk is not redone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import sys
import tempfile

import numpy as np
from absl import app, flags, logging

from coretf import flags as coretf_flags
from coretf import io as coretf_io
from coretf.synthetic import rock_scan, rocks, rocks_varied

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rock_scans import PORESPY, SCANS, Scan, otsu, read_fixture  # noqa: E402,F401 (the scans, shared)

ROOT = pathlib.Path(__file__).resolve().parents[1]
flags.DEFINE_string("realdata", str(ROOT / ".." / "shared" / "realdata"), "The real-data folder.")
flags.DEFINE_string("output", str(ROOT / "runs" / "rock_transfer"), "Where everything goes.")
flags.DEFINE_list("curve_sizes", ["1", "2", "4", "8"], "Labelled slices of the learning curve.")
flags.DEFINE_integer("curve_epochs", 30, "Epochs of each learning-curve model.")
flags.DEFINE_integer("curve_steps_per_epoch", 2, "Steps per epoch of each learning-curve model.")
flags.DEFINE_list("curve_seeds", ["0"], "Seeds of the learning-curve models (one model per seed; figures "
                  "as mean and range).")
flags.DEFINE_float("curve_learning_rate", 5e-4, "First-epoch learning rate of the curve models.")
flags.DEFINE_integer("synthetic_slices", 264, "Training slices of each synthetic model, shared by all its stacks.")
FLAGS = flags.FLAGS

HELD_OUT = 8  # Bentheimer slices kept out of every curve model's training


TRAIN_SCAN = "Bentheimer"


def slice_sets() -> dict[str, tuple[str, list[str]]]:
    """{set name: (scan, slice stems)}: the train scan's labelled pool and held-out slices, and
    each other scan whole."""
    stems = {name: [f"{name}_z{z:04d}" for z in scan.slices] for name, scan in SCANS.items()}
    sets = {f"{TRAIN_SCAN}_pool": (TRAIN_SCAN, stems[TRAIN_SCAN][:-HELD_OUT]),
            f"{TRAIN_SCAN}_heldout": (TRAIN_SCAN, stems[TRAIN_SCAN][-HELD_OUT:])}
    sets.update({name: (name, s) for name, s in stems.items() if name != TRAIN_SCAN})
    return sets


def render_scans(realdata: pathlib.Path, scans_dir: pathlib.Path) -> None:
    """Every scanned slice as `<scans_dir>/<scan>/images/<stem>.png` and `masks/<stem>.png`
    (255 = pore); slices already on disk are kept."""
    for name, scan in SCANS.items():
        stems = [f"{name}_z{z:04d}" for z in scan.slices]
        if all((scans_dir / name / "masks" / f"{s}.png").exists() for s in stems):
            continue
        volume = read_fixture(realdata / PORESPY / scan.volume)
        for z, stem in zip(scan.slices, stems):
            image, truth = rock_scan.scan_pores(volume[z], scan.scanner, seed=z)
            coretf_io.write_image(scans_dir / name / "images" / f"{stem}.png", image)
            coretf_io.write_image(scans_dir / name / "masks" / f"{stem}.png", truth * np.uint8(255))


def read_pair(scans_dir: pathlib.Path, scan: str, stem: str) -> tuple[np.ndarray, np.ndarray]:
    image = coretf_io.read_image(scans_dir / scan / "images" / f"{stem}.png")
    return image, coretf_io.read_image(scans_dir / scan / "masks" / f"{stem}.png") > 0


def pore_figures(predicted: list[np.ndarray], truth: list[np.ndarray]) -> dict:
    """IoU of the pore class pooled over the slices; pore fractions predicted and true."""
    inter = sum(int((p & t).sum()) for p, t in zip(predicted, truth))
    union = sum(int((p | t).sum()) for p, t in zip(predicted, truth))
    pixels = sum(t.size for t in truth)
    return {"iou": round(inter / max(union, 1), 4),
            "pore_fraction": round(sum(int(p.sum()) for p in predicted) / pixels, 4),
            "true_pore_fraction": round(sum(int(t.sum()) for t in truth) / pixels, 4),
            "slices": len(truth)}


def baselines(scans_dir: pathlib.Path) -> dict:
    """Otsu and median + Otsu on every slice set."""
    out = {}
    for method, median in (("otsu", False), ("median_otsu", True)):
        out[method] = {}
        for set_name, (scan, stems) in slice_sets().items():
            pairs = [read_pair(scans_dir, scan, s) for s in stems]
            out[method][set_name] = pore_figures([otsu(i, median) for i, _ in pairs], [t for _, t in pairs])
    return out


def segment_sets(export_dir: str, scans_dir: pathlib.Path, sets: list[str]) -> dict:
    """The export's pore masks (`coretf.inference.predict_image`, predict's path) on the sets."""
    from coretf import inference

    predictor = inference.Predictor(export_dir)
    out = {"model_sha256": predictor.hash}
    with tempfile.TemporaryDirectory() as tmp:
        for set_name in sets:
            scan, stems = slice_sets()[set_name]
            predicted, truth = [], []
            for stem in stems:
                inference.predict_image(predictor, str(scans_dir / scan / "images" / f"{stem}.png"),
                                        tmp, progress=False)
                predicted.append(coretf_io.read_image(os.path.join(tmp, f"{stem}_mask.png")) > 0)
                truth.append(read_pair(scans_dir, scan, stem)[1])
            out[set_name] = pore_figures(predicted, truth)
    return out


def write_lab(lab: pathlib.Path, scans_dir: pathlib.Path, labelled: int) -> float:
    """A lab's flat folder: `<scan>_images/` + `<scan>_masks/` per scan, the train scan holding its
    first `labelled` pool slices then the held-out ones, and stacks.csv marking it for training.

    Returns:
        the --rock_holdout share that keeps exactly the HELD_OUT last slices out of training.
    """
    sets = slice_sets()
    chosen = {TRAIN_SCAN: sets[f"{TRAIN_SCAN}_pool"][1][:labelled] + sets[f"{TRAIN_SCAN}_heldout"][1]}
    chosen.update({scan: stems for name, (scan, stems) in sets.items() if scan != TRAIN_SCAN})
    for scan, stems in chosen.items():
        for index, stem in enumerate(stems):  # file names sort in this order: train, then held out
            image, truth = read_pair(scans_dir, scan, stem)
            coretf_io.write_image(lab / f"{scan}_images" / f"{index:03d}_{stem}.png", image)
            coretf_io.write_image(lab / f"{scan}_masks" / f"{index:03d}_{stem}.png", truth * np.uint8(255))
    coretf_io.write_csv(lab / "stacks.csv", ["stack", "rock_type", "split"],
                        [[scan, "sandstone", "train" if scan == TRAIN_SCAN else ""] for scan in chosen])
    depth = labelled + HELD_OUT
    return (HELD_OUT - 0.5) / depth  # ceil(depth * share) = HELD_OUT exactly


def trained(config, model_dir: pathlib.Path, scans_dir: pathlib.Path, sets: list[str]) -> dict:
    """Trains `config` into `model_dir` unless done, then its figures on `sets` (cached)."""
    from coretf.runner import train_and_evaluate

    done = model_dir / "real_scans.json"
    if done.exists():
        return json.loads(done.read_text())
    if not (model_dir / "metrics.json").exists():
        print(f"\n== {model_dir.name} ==", flush=True)
        train_and_evaluate(config, str(model_dir))
    metrics = json.loads((model_dir / "metrics.json").read_text())
    figures = {"train_seconds": metrics["train_seconds"], "dataset": metrics["dataset"],
               "steps": metrics["epochs"] * metrics["steps_per_epoch"],
               "train_slices": metrics["train_slices"],
               **segment_sets(str(model_dir / "export"), scans_dir, sets)}
    coretf_io.write_json(done, figures)
    return figures


def zero_shot(config, out: pathlib.Path, scans_dir: pathlib.Path) -> dict:
    """The two synthetic-only models (base and varied generator), same budget, on every set."""
    results = {}
    for dataset, ids in (("synthetic_small", rocks.stack_ids()), ("synthetic_varied", rocks_varied.stack_ids())):
        model_config = dataclasses.replace(config, dataset=dataset, rock_train_stacks=tuple(ids),
                                           rock_train_slices=FLAGS.synthetic_slices, init_from=None)
        results[dataset] = trained(model_config, out / f"zero_shot_{dataset}", scans_dir, list(slice_sets()))
    return results


def curve(config, out: pathlib.Path, scans_dir: pathlib.Path, init_dir: pathlib.Path) -> dict:
    """Fine-tuned from the varied synthetic model against from scratch, per labelled-set size and
    seed: {"n<k>_<start>": {"seeds": {seed: figures}, "mean", "min", "max": {set: IoU}}}."""
    results = {}
    sets = [f"{TRAIN_SCAN}_heldout"] + [s for s in slice_sets() if not s.startswith(TRAIN_SCAN)]
    for size in (int(s) for s in FLAGS.curve_sizes):
        lab = out / "labs" / f"n{size}"
        holdout = write_lab(lab, scans_dir, size)
        for start, init_from in (("scratch", None), ("synthetic", str(init_dir))):
            runs = {}
            for seed in (int(s) for s in FLAGS.curve_seeds):
                model_config = dataclasses.replace(
                    config, dataset="manual", manual_dir=str(lab), data_dir=str(out / "tfds" / f"n{size}"),
                    rock_train_stacks=(), rock_train_slices=0, rock_holdout=holdout, init_from=init_from,
                    epochs=FLAGS.curve_epochs, steps_per_epoch=FLAGS.curve_steps_per_epoch,
                    learning_rate=FLAGS.curve_learning_rate, seed=seed)
                name = f"n{size}_{start}" + (f"_seed{seed}" if seed else "")
                runs[str(seed)] = trained(model_config, out / "curve" / name, scans_dir, sets)
            ious = {s: [r[s]["iou"] for r in runs.values()] for s in sets}
            results[f"n{size}_{start}"] = {
                "seeds": runs, "mean": {s: round(float(np.mean(v)), 4) for s, v in ious.items()},
                "min": {s: min(v) for s, v in ious.items()}, "max": {s: max(v) for s, v in ious.items()},
                "train_seconds": round(float(np.mean([r["train_seconds"] for r in runs.values()])), 1)}
    return results


def table(results: dict) -> str:
    """The figures as Markdown: zero shot per set, then the learning curve."""
    sets = list(slice_sets())
    rows = {"Otsu": results["baselines"]["otsu"], "3x3 median + Otsu": results["baselines"]["median_otsu"]}
    rows.update({f"U-Net trained on `{k}` only": v for k, v in results["zero_shot"].items()})
    lines = ["## Zero shot: pore IoU (pore fraction predicted / true)", "",
             "| method | " + " | ".join(sets) + " |", "|---" * (len(sets) + 1) + "|"]
    for name, figures in rows.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{figures[s]['iou']:.3f} ({figures[s]['pore_fraction']:.3f} / {figures[s]['true_pore_fraction']:.3f})"
            for s in sets) + " |")
    curve_sets = [s for s in sets if s != f"{TRAIN_SCAN}_pool"]
    seeds = len(next(iter(results["curve"].values()))["seeds"]) if results["curve"] else 0
    lines += ["", f"## Learning curve: pore IoU after training on k labelled {TRAIN_SCAN} slices "
              f"(mean of {seeds} seed(s), range in brackets)", "",
              "| k | start | " + " | ".join(curve_sets) + " | train s |", "|---" * (len(curve_sets) + 3) + "|"]
    varied = results["zero_shot"]["synthetic_varied"]
    otsu_row = results["baselines"]["otsu"]
    lines.append("| 0 | Otsu | " + " | ".join(f"{otsu_row[s]['iou']:.3f}" for s in curve_sets) + " | - |")
    lines.append("| 0 | synthetic (zero shot) | " + " | ".join(f"{varied[s]['iou']:.3f}" for s in curve_sets)
                 + f" | {varied['train_seconds']:.0f} |")
    for key, figures in results["curve"].items():
        size, start = key[1:].split("_", 1)
        spread = len(figures["seeds"]) > 1
        lines.append(f"| {size} | {start} | " + " | ".join(
            f"{figures['mean'][s]:.3f}" + (f" ({figures['min'][s]:.3f}-{figures['max'][s]:.3f})" if spread else "")
            for s in curve_sets) + f" | {figures['train_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    try:
        config = coretf_flags.job_from_flags(FLAGS).config
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    if config.job != "rock_ct":
        raise app.UsageError(f"--job={config.job}: the transfer study runs the rock_ct job")
    out = pathlib.Path(FLAGS.output)
    scans_dir = out / "scans"
    render_scans(pathlib.Path(FLAGS.realdata), scans_dir)
    results = {"scans": {name: {"volume": scan.volume, "slices": list(scan.slices),
                                "scanner": dataclasses.asdict(scan.scanner)} for name, scan in SCANS.items()},
               "sets": {name: stems for name, (_, stems) in slice_sets().items()},
               "settings": {"flags": coretf_flags.config_flags(config), "synthetic_slices": FLAGS.synthetic_slices,
                            "curve_epochs": FLAGS.curve_epochs, "curve_steps_per_epoch": FLAGS.curve_steps_per_epoch,
                            "curve_learning_rate": FLAGS.curve_learning_rate,
                            "curve_seeds": FLAGS.curve_seeds},
               "baselines": baselines(scans_dir)}
    results["zero_shot"] = zero_shot(config, out, scans_dir)
    results["curve"] = curve(config, out, scans_dir, out / "zero_shot_synthetic_varied")
    coretf_io.write_json(out / "results.json", results)
    coretf_io.write_text(out / "table.md", table(results))
    print(json.dumps({k: results[k] for k in ("baselines", "zero_shot", "curve")}, indent=1))
    print(table(results))
    print(f"table: {out / 'table.md'}, every figure: {out / 'results.json'}")


if __name__ == "__main__":
    coretf_flags.define_train_flags()
    argv = sys.argv
    if not any(a.startswith(("--flagfile", "-flagfile")) for a in argv[1:]):
        argv = [argv[0], f"--flagfile={ROOT / 'trainers' / 'rock_ct_transfer_fast.flags'}", *argv[1:]]
    app.run(main, argv=argv)
