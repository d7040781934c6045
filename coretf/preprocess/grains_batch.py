"""The grain-extraction batch: a lab's folder of photo sets to particle crops, per-set box CSVs and
`particles.csv`, in parallel, with a progress bar.

The command is `python -m coretf.preprocess.grains` (flags there); the method is in
`grain_extraction`, the photo sets are read by `grain_photos`.
A bad set (missing layers, mismatched sizes, no particle, an overexposed frame) is reported by
name and the batch goes on; every output is written atomically, and a rerun skips the sets
already done. The settings of a run are kept in `extraction.json` beside the outputs: a rerun
with other settings is refused (its crops would not match the ones already written), and the
file can be copied into a `sediment_grains` manual folder so that the builder extracts alike.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import multiprocessing
import os

import numpy as np
from tqdm import tqdm

from coretf import io as coretf_io
from coretf.preprocess import grain_extraction, grain_photos

CSV_COLUMNS = ("sample", "position", "particle", "y0", "x0", "y1", "x1", "edge", "widest_layer",
               "area_px", "crop")


def process_set(files: grain_photos.PhotoSetFiles, output: str, *, layers: int, crop_size: int,
                settings: grain_extraction.ExtractionSettings) -> list[dict]:
    """Extracts one set: crops (one PNG per particle, its layers side by side) and its rows.

    The set's CSV under `boxes/` is written last and atomically: its presence marks the set done.
    """
    stack = grain_photos.read_photo_set(files, layers)
    particles = grain_extraction.extract_particles(stack, settings, f"{files.sample}/{files.position}")
    rows = []
    for index, particle in enumerate(particles):
        crop = os.path.join("crops", files.sample, f"{files.position}_{index:03d}.png")
        tiles = grain_photos.crop_layers(stack, particle.box, crop_size)
        coretf_io.write_image(os.path.join(output, crop), np.concatenate(list(tiles), axis=1))
        y0, x0, y1, x1 = particle.box
        rows.append({"sample": files.sample, "position": files.position, "particle": index, "y0": y0, "x0": x0,
                     "y1": y1, "x1": x1, "edge": int(particle.edge), "widest_layer": particle.widest_layer,
                     "area_px": particle.area_px, "crop": crop.replace(os.sep, "/")})
    coretf_io.write_csv(_set_csv(output, files), CSV_COLUMNS, rows)
    return rows


def _set_csv(output: str, files: grain_photos.PhotoSetFiles) -> str:
    return os.path.join(output, "boxes", files.sample, f"{files.position}.csv")


def _read_csv(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _worker(job):
    files, output, layers, crop_size, settings = job
    try:
        return files, process_set(files, output, layers=layers, crop_size=crop_size, settings=settings), None
    except (coretf_io.ImageError, ValueError) as error:
        return files, None, str(error)


def _check_run(output: str, layers: int, crop_size: int,
               settings: grain_extraction.ExtractionSettings) -> None:
    """Writes the run's record to `<output>/extraction.json`, or checks it against the one there.

    Raises:
        ValueError: the output folder was filled with other settings (each difference named).
    """
    path = os.path.join(output, grain_extraction.SETTINGS_FILE)
    record = {"layers": layers, "crop_size": crop_size, "settings": dataclasses.asdict(settings)}
    if not os.path.exists(path):
        coretf_io.write_json(path, record)
        return
    before = {"settings": dataclasses.asdict(grain_extraction.read_settings(path))}
    with open(path) as f:
        before.update({key: value for key, value in json.load(f).items() if key != "settings"})
    changed = [f"{key} {before.get(key)!r} -> {record[key]!r}" for key in ("layers", "crop_size")
               if before.get(key) != record[key]]
    changed += [f"{key} {value!r} -> {record['settings'][key]!r}" for key, value in before["settings"].items()
                if value != record["settings"][key]]
    if changed:
        raise ValueError(f"{output}: its photo sets were extracted with other settings ({'; '.join(changed)}; "
                         f"see {path}); use a new output folder, or the same settings to resume")


def process_folder(input_dir: str, output: str, *, layers: int = grain_photos.NUM_LAYERS,
                   crop_size: int = 280,
                   settings: grain_extraction.ExtractionSettings = grain_extraction.ExtractionSettings(),
                   workers: int = 2, progress: bool = True) -> tuple[list[dict], list[str]]:
    """Extracts every photo set of a folder; a rerun skips the sets already done.

    Writes `extraction.json` (the run's layers, crop size and settings) first, then
    `crops/<sample>/<position>_<particle>.png` (L layers side by side, crop_size high),
    `boxes/<sample>/<position>.csv` per set, then `particles.csv` (all sets) and, when some sets
    failed, `errors.txt`, all atomically.

    Args:
        input_dir: a lab's folder (layouts: `grain_photos.find_photo_sets`).
        output: output folder.
        layers: focal layers per set (6; 1 for single-layer photos).
        crop_size: side of the resized crops, px.
        settings: extraction settings.
        workers: processes (both cores: 2).
        progress: show a tqdm bar.

    Returns:
        (rows of particles.csv, error messages of the sets that failed).

    Raises:
        ValueError: the input folder is missing or holds no image, or `output` holds a run made
            with other settings.
    """
    sets = grain_photos.find_photo_sets(input_dir, layers)
    _check_run(output, layers, crop_size, settings)
    todo = [s for s in sets if not os.path.exists(_set_csv(output, s))]
    errors = []
    jobs = [(s, output, layers, crop_size, settings) for s in todo]
    if workers > 1 and len(jobs) > 1:
        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap_unordered(_worker, jobs)
    else:
        pool, results = None, map(_worker, jobs)
    try:
        for _, _, error in tqdm(results, total=len(jobs), desc="photo sets", unit="set", disable=not progress):
            if error:
                errors.append(error)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    rows = []
    for s in sets:
        if os.path.exists(_set_csv(output, s)):
            rows.extend(_read_csv(_set_csv(output, s)))
    coretf_io.write_csv(os.path.join(output, "particles.csv"), CSV_COLUMNS, rows)
    if errors:
        coretf_io.write_text(os.path.join(output, "errors.txt"), "\n".join(errors) + "\n")
    return rows, errors
