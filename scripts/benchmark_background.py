"""Background removal on section photographs drawn unlike the builder's: success, depth axis, speed.

Draws --num_photos layouts (`coretf.synthetic.section_photos`: dark, grey, blue and light trays,
liner edges, card and scale bar at either end, depth along x or y, 20-200 px/cm, uneven light)
and crops each with every method at its defaults, with the depth axis given and with
`depth_axis=auto`. A crop succeeds when `background.truth_status` says "ok": both ends within
--tolerance_cm of the true core ends and no row of tray or liner kept across the core (the 10 %
cross crop is deliberate, so a box IoU with the uncropped core box cannot reach 0.95; the IoU with
the core box cropped by 10 % a side is printed beside it). A failure is silent when the automatic
check (colour card, length against the photograph's true length +- 5 %) calls it "ok". Prints one
JSON object: per method the success rates, auto-axis accuracy, silent failures, seconds per
photograph, and a per-condition breakdown.

    python scripts/benchmark_background.py [--num_photos=100] [--workers=2]
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
import time

from absl import app
from absl import flags
import numpy as np

from coretf.preprocess import background
from coretf.synthetic import section_photos

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_integer("num_photos", 100, "Photographs drawn.")
    flags.DEFINE_integer("seed", 0, "Seed of the layouts and cores.")
    flags.DEFINE_list("px_per_cm", ["20", "200"], "Resolution range (log-uniform), px/cm.")
    flags.DEFINE_float("max_pixels", 8e6, "Pixel budget of a photograph (shortens the core).")
    flags.DEFINE_float("tolerance_cm", 1.0, "How far a crop end may miss the true end, cm.")
    flags.DEFINE_list("methods", list(background.METHODS), "Methods to run.")
    flags.DEFINE_integer("workers", 2, "Processes.")
    flags.DEFINE_bool("per_photo", False, "Also print every photograph's result.")


def judge(photo: section_photos.SectionPhoto, result: background.CropResult,
          tolerance_cm: float) -> dict:
    """Truth status and IoU of a crop of `photo` (both in the core-along-x frame)."""
    box, true = result.box, photo.core_box
    if photo.conditions.depth_axis == "y":
        box = None if box is None else background.transpose_box(box)
        true = background.transpose_box(true)
    status = background.truth_status(box, true, round(tolerance_cm * photo.conditions.px_per_cm))
    x0, y0, x1, y1 = true
    trim = round(0.1 * (y1 - y0))
    return {"status": status, "iou": box_iou(box, (x0, y0 + trim, x1, y1 - trim))}


def box_iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes; 0 for None."""
    if a is None:
        return 0.0
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


def run_photo(index: int, seed: int, px_range, max_pixels: float, tolerance_cm: float,
              methods) -> dict:
    rng = np.random.default_rng([seed, index])
    conditions = section_photos.draw_conditions(rng, px_per_cm=px_range, max_pixels=max_pixels)
    photo = section_photos.make_photo(index, conditions, seed=seed)
    out = {"index": index, "conditions": dataclasses.asdict(conditions), "shape": photo.image.shape}
    for method in methods:
        for axis in ("given", "auto"):
            params = background.CropParams(
                method=method, depth_axis=conditions.depth_axis if axis == "given" else "auto")
            start = time.perf_counter()
            result = background.find_core_box(photo.image, params)
            seconds = time.perf_counter() - start
            check = background.check_crop(photo.image, result, params,
                                          px_per_cm=conditions.px_per_cm,
                                          expected_lengths_cm=(conditions.length_cm,))
            row = judge(photo, result, tolerance_cm)
            row.update(auto_status=check.status, axis=result.depth_axis, seconds=seconds)
            out[f"{method}/{axis}"] = row
    return out


def _px_bin(p: float) -> str:
    return "20-45" if p < 45 else "45-90" if p < 90 else "90-200"


def summarise(photos: list[dict], methods) -> dict:
    conditions = {
        "tray": lambda c: c["tray"], "depth_axis": lambda c: c["depth_axis"],
        "card_end": lambda c: c["card_end"], "scale_bar": lambda c: c["scale_bar"],
        "liner": lambda c: str(c["liner"]), "px_per_cm": lambda c: _px_bin(c["px_per_cm"]),
    }
    summary = {}
    for method in methods:
        given = [p[f"{method}/given"] for p in photos]
        auto = [p[f"{method}/auto"] for p in photos]
        ok = lambda rows: round(float(np.mean([r["status"] == "ok" for r in rows])), 4)  # noqa: E731
        breakdown = {}
        for name, key in conditions.items():
            groups = collections.defaultdict(list)
            for p in photos:
                groups[key(p["conditions"])].append(p)
            breakdown[name] = {
                value: {"n": len(g), "success_auto": ok([p[f"{method}/auto"] for p in g]),
                        "success_given_axis": ok([p[f"{method}/given"] for p in g])}
                for value, g in sorted(groups.items())}
        summary[method] = {
            "success_given_axis": ok(given), "success_auto_axis": ok(auto),
            "auto_axis_accuracy": round(float(np.mean(
                [r["axis"] == p["conditions"]["depth_axis"] for r, p in zip(auto, photos)])), 4),
            "median_iou_cross_cropped_truth": round(float(np.median([r["iou"] for r in auto])), 4),
            "failures_auto_axis": sum(r["status"] != "ok" for r in auto),
            "silent_failures_auto_axis": sum(r["status"] != "ok" and r["auto_status"] == "ok"
                                             for r in auto),
            "false_alarms_auto_axis": sum(r["status"] == "ok" and r["auto_status"] != "ok"
                                          for r in auto),
            "truth_failures_auto_axis": dict(collections.Counter(
                r["status"] for r in auto if r["status"] != "ok")),
            "seconds_per_photo": round(float(np.mean([r["seconds"] for r in auto])), 3),
            "by_condition": breakdown,
        }
    return summary


def main(argv) -> None:
    del argv
    start = time.time()
    px_range = tuple(float(v) for v in FLAGS.px_per_cm)
    with concurrent.futures.ProcessPoolExecutor(FLAGS.workers) as pool:
        photos = list(pool.map(run_photo, range(FLAGS.num_photos), [FLAGS.seed] * FLAGS.num_photos,
                               [px_range] * FLAGS.num_photos, [FLAGS.max_pixels] * FLAGS.num_photos,
                               [FLAGS.tolerance_cm] * FLAGS.num_photos,
                               [FLAGS.methods] * FLAGS.num_photos))
    mpx = [p["shape"][0] * p["shape"][1] / 1e6 for p in photos]
    report = {
        "photos": len(photos), "seed": FLAGS.seed, "px_per_cm": list(px_range),
        "megapixels": {"median": round(float(np.median(mpx)), 2), "max": round(max(mpx), 2)},
        "tolerance_cm": FLAGS.tolerance_cm, "criterion": "background.truth_status == 'ok'",
        "methods": summarise(photos, FLAGS.methods), "wall_seconds": round(time.time() - start, 1),
    }
    if FLAGS.per_photo:
        report["per_photo"] = [
            {"index": p["index"], **{k: p["conditions"][k] for k in
                                     ("tray", "depth_axis", "card_end", "scale_bar", "liner")},
             "px_per_cm": round(p["conditions"]["px_per_cm"], 1),
             **{f"{m}/auto": (p[f"{m}/auto"]["status"], p[f"{m}/auto"]["axis"],
                              p[f"{m}/auto"]["auto_status"]) for m in FLAGS.methods}}
            for p in photos]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    define_flags()
    app.run(main)
