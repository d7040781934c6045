"""The ice labels measured on real slices; prints a table and writes JSON.

    python scripts/ice_real_slice.py [--realdata=../shared/realdata] [--output=runs/ice_real_slice.json]

Inputs (`shared/realdata`, see their PROVENANCE.md):
- the SnowEx snow slice (535 x 535 palette PNG, 255 = ice, 0 = air and outside the circular
  field of view), labelled as it comes: the field of view found, before (the ring search alone)
  and now (`--fov=auto`, checked), the GMM's IoU with the lab's binary mask and the ice fraction
  inside the field of view, and over the whole image (`--fov=none`);
- grey CT slices scanned from that mask (`coretf.synthetic.ice_scan`: blur, noise, salt and
  pepper, beam-hardening cupping, with or without a carbon-fibre tube, air around the tube or
  not; 3 noise seeds each), the mask being the exact truth;
- the same from slice 250 of the real Bentheimer sandstone volume (500^3, porespy fixtures), its
  solid read as ice (ice fraction ~0.8, like firn) inside a 240 px disc.
IoU is of the ice pixels over the whole image (the truth has no ice outside its disc).

With `--model=<an ice_ct export>` (e.g. runs/ice_ct_fast/export, trained on synthetic specimens
only), each scanned slice is also segmented by the network through `coretf.predict`'s path, zero
shot, resampled from the slice's voxel size (`--um_per_voxel`, SnowEx: 20 um) to the model's:
`network_iou` beside the GMM's and Otsu's.
"""

from __future__ import annotations

import os
import pathlib
import statistics

import numpy as np
from absl import app, flags

from coretf import io as coretf_io
from coretf.preprocess import ice_fov, ice_slices, ice_stack
from coretf.synthetic import ice_scan

ROOT = pathlib.Path(__file__).resolve().parents[1]
flags.DEFINE_string("realdata", str(ROOT / ".." / "shared" / "realdata"), "The real-data folder.")
flags.DEFINE_string("output", str(ROOT / "runs" / "ice_real_slice.json"), "The JSON written.")
flags.DEFINE_string("model", None, "An ice_ct export to segment the scanned slices with (zero shot).")
flags.DEFINE_float("um_per_voxel", 20.0, "Voxel size of the scanned slices (SnowEx: 20 um).")
FLAGS = flags.FLAGS

SNOWEX = "snowex_microct_slice/2n13_139-137cm_20um_redo_rec_voi_0253.png"
PAD = 24  # room for a tube and air around the SnowEx disc, which touches the image's edges
SCANS = {  # name -> settings
    "no tube, 0 outside the disc": ice_scan.ScanSettings(),
    "tube (10 px wall), 0 outside it": ice_scan.ScanSettings(ring_width=10),
    "tube (10 px wall), air around it": ice_scan.ScanSettings(ring_width=10, margin=8),
}
SEEDS = (0, 1, 2)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def measure(image: np.ndarray, truth: np.ndarray, disc: np.ndarray, name: str, **fov) -> dict:
    """Labels `image` and compares it with the truth (ice mask, and the disc the data fill)."""
    labels = ice_slices.label_slice(image, name, **fov)
    inside = labels.fov_mask
    return {
        "fov": labels.fov.describe(), "fov_source": labels.fov.source,
        "fov_radius_px": round(labels.fov.radius, 1), "fov_warning": labels.fov_warning,
        "fov_iou_with_disc": round(iou(inside, disc), 4),
        "gmm_iou": round(iou(labels.gmm, truth), 4), "otsu_iou": round(iou(labels.otsu, truth), 4),
        "gmm_ice_fraction": round(float(labels.gmm[inside].mean()), 4),
        "true_ice_fraction_in_fov": round(float(truth[inside].mean()), 4),
        "true_ice_fraction_in_disc": round(float(truth[disc].mean()), 4),
        "ice_lost": round(float(1.0 - truth[inside].sum() / max(truth.sum(), 1)), 4),
    }


def real_snowex(path: pathlib.Path) -> dict:
    grey = ice_stack.read_slice(str(path))  # a palette PNG: read as grey, with a warning
    truth = grey > 0
    disc = ice_fov.data_extent(ice_slices.denoise(grey)).mask(grey.shape)
    before = ice_slices.find_field_of_view(ice_slices.denoise(grey), path.name)
    return {
        "input": f"{path.name} as it is (binary, read as grey)",
        "mask_ice_fraction_whole_image": round(float(truth.mean()), 4),
        "before (ring search alone)": measure(grey, truth, disc, path.name, fov=before),
        "auto": measure(grey, truth, disc, path.name),
        "none": measure(grey, truth, disc, path.name, fov_mode="none"),
    }


def network_iou(predictor, image: np.ndarray, truth: np.ndarray, folder: str) -> float:
    """The network's ice (probability >= 0.5) against the truth, through the whole-image path."""
    import tempfile

    import tifffile

    from coretf import inference

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = os.path.join(tmp, "slice.png")
        coretf_io.write_image(path, image)
        inference.predict_image(predictor, path, tmp, um_per_voxel=FLAGS.um_per_voxel, progress=False)
        confidence = tifffile.imread(os.path.join(tmp, "slice_confidence.tif"))
    return round(iou(confidence >= 0.5, truth), 4)


def scanned(truth: np.ndarray, centre: tuple[float, float], radius: float, label: str,
            predictor=None) -> dict:
    """Every scan setting x seed of one mask: the figures' means and ranges, and the unchecked
    ring search's field of view (as before the check) on the first seed."""
    disc = ice_fov.FieldOfView(centre, radius).mask(truth.shape)
    truth = truth & disc
    out = {}
    for scan_name, settings in SCANS.items():
        images = [ice_scan.scan_slice(truth, centre, radius, settings, seed) for seed in SEEDS]
        runs = [measure(image, truth, disc, f"{label}, {scan_name}, seed {seed}")
                for image, seed in zip(images, SEEDS)]
        if predictor is not None:
            for run, image in zip(runs, images):
                run["network_iou"] = network_iou(predictor, image, truth, os.path.dirname(FLAGS.output))
        summary = {"fov_sources": sorted({r["fov_source"] for r in runs}),
                   "warnings": sum(r["fov_warning"] is not None for r in runs)}
        for key in ("fov_radius_px", "fov_iou_with_disc", "ice_lost", "gmm_iou", "otsu_iou",
                    "gmm_ice_fraction", "true_ice_fraction_in_disc", "network_iou"):
            if key not in runs[0]:
                continue
            values = [r[key] for r in runs]
            summary[key] = {"mean": round(statistics.mean(values), 4),
                            "min": min(values), "max": max(values)}
        try:
            before = ice_slices.find_field_of_view(ice_slices.denoise(images[0]))
            summary["before (ring search alone)"] = measure(images[0], truth, disc, label, fov=before)
        except coretf_io.ImageError as error:
            summary["before (ring search alone)"] = {"error": str(error)}
        out[scan_name] = summary
    return {"input": label, "disc_radius_px": radius, "seeds": list(SEEDS), "scans": out}


def table(results: dict) -> str:
    """The figures as a Markdown table (means over the seeds for the scanned slices)."""
    lines = ["| input | field of view found | its IoU with the data's disc | ice left out | GMM IoU "
             "| Otsu IoU | ice fraction: ours (in the FOV found) / true (of the disc) |",
             "|---|---|---|---|---|---|---|"]

    def row(name, r, mean=lambda v: v):
        source = r["fov_source"] if "fov_source" in r else ", ".join(r["fov_sources"])
        lines.append(f"| {name} | {source}, r = {mean(r['fov_radius_px']):.1f} px | "
                     f"{mean(r['fov_iou_with_disc']):.3f} | {mean(r['ice_lost']):.1%} | "
                     f"{mean(r['gmm_iou']):.3f} | {mean(r['otsu_iou']):.3f} | "
                     f"{mean(r['gmm_ice_fraction']):.3f} / {mean(r['true_ice_fraction_in_disc']):.3f} |")

    for mode in ("before (ring search alone)", "auto", "none"):
        row(f"SnowEx slice (binary), `--fov={mode}`" if mode != "before (ring search alone)"
            else "SnowEx slice (binary), the ring search alone (before)", results["snowex"][mode])
    for key in ("snowex_scanned", "bentheimer_scanned"):
        for scan_name, r in results[key]["scans"].items():
            row(f"{results[key]['input']}: {scan_name}", r, lambda v: v["mean"])
            before = r["before (ring search alone)"]
            if "error" not in before and before["fov_radius_px"] != r["fov_radius_px"]["mean"]:
                row(f"... the ring search alone (before), seed {SEEDS[0]}", before)
    return "\n".join(lines)


def main(argv):
    del argv
    realdata = pathlib.Path(FLAGS.realdata)
    results = {"snowex": real_snowex(realdata / SNOWEX)}
    grey = ice_stack.read_slice(str(realdata / SNOWEX))
    mask = np.pad(grey > 0, PAD)
    centre = (267.5 + PAD, 267.5 + PAD)
    predictor = None
    if FLAGS.model:
        from coretf import inference

        predictor = inference.Predictor(FLAGS.model)
        results["model"] = {"path": os.path.abspath(predictor.model_dir), "sha256": predictor.hash,
                            "dataset": predictor.metadata.get("dataset"), "um_per_voxel": FLAGS.um_per_voxel}
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    results["snowex_scanned"] = scanned(mask, centre, 267.5, "SnowEx mask scanned", predictor)
    volume = np.load(realdata / "porespy_fixtures" / "bentheimer.npz")["arr_0"]
    solid = np.pad(~volume[250], PAD)  # True = pore in the fixture: the solid plays the ice
    results["bentheimer_scanned"] = scanned(solid, (250.0 + PAD, 250.0 + PAD), 240.0,
                                            "Bentheimer slice 250 scanned, solid as ice", predictor)
    coretf_io.write_json(FLAGS.output, results)
    print(table(results))
    print(f"all figures: {os.path.abspath(FLAGS.output)}")


if __name__ == "__main__":
    app.run(main)
