"""The grain-extraction batch: a lab's folder of photo sets to particle crops, per-set box CSVs,
`particles.csv`, each grain's size and shape (`grains.csv`, in mm with the photos' scale), the
size distributions (`grain_sizes.json`, `grain_sizes.png`) and a detections overlay per set, in
parallel, with a progress bar.

The command is `python -m coretf.preprocess.grains` (flags there); the method is in
`grain_extraction`, the photo sets are read by `grain_photos`.
A bad set (missing layers, mismatched sizes, no particle, an overexposed frame) is reported by
name and the batch goes on; every output is written atomically, and a rerun skips the sets
already done. The settings of a run are kept in `extraction.json` beside the outputs: a rerun
with other settings is refused (its crops would not match the ones already written), and the
file can be copied into a `sediment_grains` manual folder so that the builder extracts alike.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os

import cv2
import numpy as np
from tqdm import tqdm

from coretf import io as coretf_io
from coretf import outputs
from coretf import plots, provenance
from coretf.analysis import grain_sizes
from coretf.preprocess import grain_extraction, grain_photos

CSV_COLUMNS = ("sample", "position", "particle", "y0", "x0", "y1", "x1", "edge", "widest_layer",
               "area_px", "crop")
# Size and shape of each particle's outline (coretf.analysis.grain_sizes; px of the frame, mm
# with the photos' scale); "grain" is particle + 1 and "touches_edge" is "edge".
SHAPE_COLUMNS = tuple(c for c in grain_sizes.COLUMNS if c not in ("grain", "touches_edge", "area_px"))
GRAINS_COLUMNS = ("sample", "position", "particle", "edge", "area_px") + SHAPE_COLUMNS + ("crop",)
SIZE_QUANTITIES = ("minor_axis", "major_axis", "equivalent_diameter")  # in grain_sizes.json
OVERLAY_WIDTH = 1280  # px, at most: the detections overlay of a set
_INSIDE, _CUT = (255, 210, 0), (255, 0, 200)  # outline colours: whole particles, cut by the frame


def process_set(files: grain_photos.PhotoSetFiles, output: str, *, layers: int, crop_size: int,
                settings: grain_extraction.ExtractionSettings) -> list[dict]:
    """Extracts one set: crops (one PNG per particle, its layers side by side) and its rows.

    The set's CSV under `boxes/` is written last and atomically: its presence marks the set done.
    """
    stack = grain_photos.read_photo_set(files, layers)
    name = f"{files.sample}/{files.position}"
    particles, labels, px_per_label = grain_extraction.extract_labelled(stack, settings, name)
    mm_per_px = settings.um_per_px / 1000.0 if settings.um_per_px else None
    shapes = {r["grain"]: r for r in grain_sizes.measure_labels(labels, mm_per_px, px_per_label=px_per_label)}
    rows, written = [], [_overlay_path(output, files), _set_csv(output, files)]
    with outputs.one_item(written):  # a failure part-way leaves none of the set's files
        for index, particle in enumerate(particles):
            crop = os.path.join("crops", files.sample, f"{files.position}_{index:03d}.png")
            tiles = grain_photos.crop_layers(stack, particle.box, crop_size)
            written.append(os.path.join(output, crop))
            coretf_io.write_image(written[-1], np.concatenate(list(tiles), axis=1))
            y0, x0, y1, x1 = particle.box
            rows.append({"sample": files.sample, "position": files.position, "particle": index, "y0": y0,
                         "x0": x0, "y1": y1, "x1": x1, "edge": int(particle.edge),
                         "widest_layer": particle.widest_layer, "area_px": particle.area_px,
                         "crop": crop.replace(os.sep, "/"), **{c: _cell(shapes[index + 1][c]) for c in SHAPE_COLUMNS}})
        coretf_io.write_image(_overlay_path(output, files), detections_overlay(stack, particles, labels, name))
        coretf_io.write_csv(_set_csv(output, files), CSV_COLUMNS + SHAPE_COLUMNS, rows)
    return rows


def _cell(value):
    return "" if value is None else f"{value:.5g}" if isinstance(value, float) else value


def detections_overlay(stack: np.ndarray, particles: list[grain_extraction.Particle], labels: np.ndarray,
                       name: str) -> np.ndarray:
    """The set's most used widest layer (at most OVERLAY_WIDTH px wide) with each particle's
    outline and number; particles cut by the frame in another colour; a legend on top."""
    layer = np.bincount([p.widest_layer for p in particles]).argmax()
    height, width = stack.shape[1:3]
    scale = min(1.0, OVERLAY_WIDTH / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = cv2.resize(stack[layer], size, interpolation=cv2.INTER_AREA) if scale < 1 else stack[layer].copy()
    shown = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    for index, particle in enumerate(particles):
        colour = _CUT if particle.edge else _INSIDE
        region = (shown == index + 1).astype(np.uint8)
        contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(image, contours, -1, colour, 1 if size[0] < 800 else 2)
        y0, x0, y1, x1 = (round(v * scale) for v in particle.box)
        cv2.putText(image, str(index), (x0, max(10, y0 - 2)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35 if size[0] < 800 else 0.5, colour, 1, cv2.LINE_AA)
    cut = sum(p.edge for p in particles)
    return plots.with_legend(image, [(_INSIDE, f"particle outline and number ({len(particles) - cut})"),
                                     (_CUT, f"cut by the frame ({cut}; left out of the size distribution)")],
                             title=f"{name}: {len(particles)} particles, focal layer {layer}")


def _overlay_path(output: str, files: grain_photos.PhotoSetFiles) -> str:
    return os.path.join(output, "overlays", files.sample, f"{files.position}.png")


def _set_csv(output: str, files: grain_photos.PhotoSetFiles) -> str:
    return os.path.join(output, "boxes", files.sample, f"{files.position}.csv")


def extract_set(files: grain_photos.PhotoSetFiles, output: str, layers: int, crop_size: int,
                settings: grain_extraction.ExtractionSettings) -> tuple[list[dict] | None, str | None]:
    """One set's rows, read back when it is done (its CSV exists) or extracted now
    (`process_set`); never raises for a bad set.

    Returns:
        (rows, None), or (None, the error message naming the set).

    Raises:
        OSError: the output disk is full (the batch stops).
    """
    try:
        done = _set_csv(output, files)
        if os.path.exists(done):
            return coretf_io.read_csv(done), None
        return process_set(files, output, layers=layers, crop_size=crop_size, settings=settings), None
    except Exception as error:  # any failure of one set is reported, never the batch's end
        if outputs.disk_full(error):
            raise
        return None, outputs.item_error(f"{files.sample}/{files.position}", error)


def _worker(job):
    return extract_set(*job)


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


def start_run(input_dir: str, output: str, layers: int, crop_size: int,
              settings: grain_extraction.ExtractionSettings) -> list[grain_photos.PhotoSetFiles]:
    """The folder's photo sets, once the output is checked and its `extraction.json` written.

    Raises:
        ValueError: as `process_folder`.
    """
    sets = grain_photos.find_photo_sets(input_dir, layers)
    outputs.prepare(output, input_dir, first_image=sets[0].paths[0], bytes_per_pixel=0.5, recursive=True)
    _check_run(output, layers, crop_size, settings)
    return sets


def process_folder(input_dir: str, output: str, *, layers: int = grain_photos.NUM_LAYERS,
                   crop_size: int = 280,
                   settings: grain_extraction.ExtractionSettings = grain_extraction.ExtractionSettings(),
                   workers: int = 2, progress: bool = True) -> tuple[list[dict], list[str]]:
    """Extracts every photo set of a folder; a rerun skips the sets already done.

    Writes `extraction.json` (the run's layers, crop size and settings) first, then
    `crops/<sample>/<position>_<particle>.png` (L layers side by side, crop_size high),
    `overlays/<sample>/<position>.png` and `boxes/<sample>/<position>.csv` per set, then
    `particles.csv`, `grains.csv` (all sets), `grain_sizes.json`, `grain_sizes.png` and, when
    some sets failed, `errors.txt`, all atomically. A full output disk stops the batch (the
    error says so; the tables are left to the rerun).

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
        ValueError: the input folder is missing or holds no image, `output` is unusable
            (`coretf.outputs.prepare`) or holds a run made with other settings.
    """
    sets = start_run(input_dir, output, layers, crop_size, settings)
    todo = [s for s in sets if not os.path.exists(_set_csv(output, s))]
    errors = []
    jobs = [(s, output, layers, crop_size, settings) for s in todo]
    if workers > 1 and len(jobs) > 1:
        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap_unordered(_worker, jobs)
    else:
        pool, results = None, map(_worker, jobs)
    try:
        for _, error in tqdm(results, total=len(jobs), desc="photo sets", unit="set", disable=not progress):
            if error:
                errors.append(error)
    except OSError as error:
        if not outputs.disk_full(error):
            raise
        if pool is not None:
            pool.terminate()  # a set cut short has no CSV: the rerun redoes it
            pool.join()
        outputs.remove_temporaries(output)
        errors.append(outputs.stopped(input_dir, output))
        return [], errors  # no room for the tables; a rerun writes them
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return write_tables(output, sets, settings, errors), errors


def write_tables(output: str, sets: list[grain_photos.PhotoSetFiles],
                 settings: grain_extraction.ExtractionSettings, errors: list[str]) -> list[dict]:
    """The run's tables from the sets done: `particles.csv`, `grains.csv`, the size
    distributions and, when some sets failed, `errors.txt` (an earlier run's is removed).

    Returns:
        The rows of particles.csv, in set order.
    """
    rows = []
    for s in sets:
        if os.path.exists(_set_csv(output, s)):
            rows.extend(coretf_io.read_csv(_set_csv(output, s)))
    coretf_io.write_csv(os.path.join(output, "particles.csv"), CSV_COLUMNS, rows)
    coretf_io.write_csv(os.path.join(output, "grains.csv"), GRAINS_COLUMNS, rows)
    write_size_distributions(output, rows, settings)
    outputs.write_report(output, errors)
    return rows


def write_size_distributions(output: str, rows: list[dict], settings: grain_extraction.ExtractionSettings) -> dict:
    """`grain_sizes.json`: D10/D50/D90 with 95 % bootstrap intervals of each SIZE_QUANTITIES, per
    sample and over all, of the particles not cut by the frame (a cut one's size is not its own),
    in mm with the photos' scale (`um_per_px`), else in px; `grain_sizes.png`: the distribution
    of the minor axis (the sieve's intermediate axis in a photograph) over all samples."""
    unit = "mm" if settings.um_per_px else "px"
    whole = [r for r in rows if str(r["edge"]) == "0" and r.get("minor_axis_px", "") != ""]
    groups = {"all": whole}
    for row in whole:
        groups.setdefault(f"sample {row['sample']}", []).append(row)
    summary = {"unit": unit, "um_per_px": settings.um_per_px, "particles": len(rows),
               "cut_by_the_frame": sum(str(r["edge"]) != "0" for r in rows), "groups": {},
               "provenance": provenance.record()}
    for group, members in groups.items():
        entry = summary["groups"][group] = {"n": len(members)}
        for quantity in SIZE_QUANTITIES:
            values = [float(r[f"{quantity}_{unit}"]) for r in members]
            try:
                entry[quantity] = grain_sizes.size_percentiles(values)
            except ValueError as error:  # fewer than two grains
                entry[quantity] = {"note": str(error)}
    coretf_io.write_json(os.path.join(output, "grain_sizes.json"), summary)
    stats = summary["groups"]["all"]["minor_axis"]
    if "D50" in stats:
        grain_sizes.save_distribution_plot(
            os.path.join(output, "grain_sizes.png"), [float(r[f"minor_axis_{unit}"]) for r in whole], stats,
            unit=unit, quantity="minor axis",
            title=f"{stats['n']} particles of {len(groups) - 1} sample(s), not cut by the frame; "
                  "bands: 95 % bootstrap intervals")
    return summary


def size_summary_line(output: str) -> str:
    """One line on the run's D10/D50/D90 of the minor axis (from `grain_sizes.json`), or ""."""
    path = os.path.join(output, "grain_sizes.json")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        summary = json.load(f)
    stats = summary["groups"]["all"]["minor_axis"]
    if "D50" not in stats:
        return f"grain sizes: {stats['note']}"
    figures = ", ".join(f"D{p} {stats[f'D{p}']['value']:.3g} ({stats[f'D{p}']['low']:.3g}-"
                        f"{stats[f'D{p}']['high']:.3g})" for p in grain_sizes.PERCENTILES)
    return (f"minor axis of {stats['n']} particles, {summary['unit']}: {figures} -> "
            f"{os.path.join(output, 'grains.csv')}, grain_sizes.png")
