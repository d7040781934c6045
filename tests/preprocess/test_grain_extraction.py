"""Grain extraction: measured against true boxes (synthetic and real photos), bad input, the command,
the minimum particle area."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from coretf import io as coretf_io
from coretf.analysis import grain_sizes
from coretf.preprocess import grain_extraction as extraction
from coretf.preprocess import grain_photos
from coretf.preprocess import grains_batch
from coretf.synthetic import grain_scenes
from coretf.synthetic import grains as synthetic

# Measured with the paper's threshold, plate="dark" and split_touching (see the README): pooled
# over the three photos, precision 431/523 = 0.82, recall 431/760 = 0.57 (the paper's merge of
# touching particles boxes clusters instead: recall 0.02). Just below, so that a regression fails.
RECALL_FLOOR, PRECISION_FLOOR = 0.55, 0.8
OLD_SPLIT = dataclasses.replace(extraction.PAPER_SETTINGS, split_touching=True)
REAL = pathlib.Path(__file__).resolve().parents[3] / "shared" / "realdata" / "segmenteverygrain" / "images_masks"


def test_box_iou_and_detection_scores_golden():
    assert grain_photos.box_iou((0, 0, 10, 10), (0, 5, 10, 15)) == pytest.approx(50 / 150)
    scores = grain_photos.detection_scores([(0, 0, 10, 10), (20, 20, 30, 30), (50, 50, 52, 52)],
                                           [(0, 1, 10, 11), (20, 20, 30, 30)])
    assert scores == {"precision": 2 / 3, "recall": 1.0, "matched": 2, "predicted": 3, "true": 2}


@pytest.mark.parametrize("plate, floor", [("green", 0.85), ("dark", 0.55)])
def test_detection_on_synthetic_photo_sets(plate, floor):
    matched = predicted = true = 0
    for index in range(4):
        made = synthetic.make_photo_set(index, height=256, width=320, num_particles=(5, 7), plate=plate)
        particles = extraction.extract_particles(made.layers, extraction.PAPER_SETTINGS)  # the builder's
        scores = grain_photos.detection_scores([p.box for p in particles], made.boxes)
        matched, predicted, true = matched + scores["matched"], predicted + scores["predicted"], true + scores["true"]
    # Dark grains on a dark plate are the hard case (the floor says so); green is the paper's set-up.
    assert matched / predicted >= floor and matched / true >= floor


def test_auto_plate_picks_saturation_on_green_and_value_on_dark():
    green = synthetic.make_photo_set(0, height=256, width=320, plate="green").layers[2]
    dark = synthetic.make_photo_set(0, height=256, width=320, plate="dark").layers[2]
    assert extraction.foreground_mask(green)[1]["feature"] == "saturation"
    info = extraction.foreground_mask(dark)[1]
    assert info["feature"] == "value" and info["background"] == "low"


def test_paper_settings_find_what_the_old_defaults_found():
    """The builder extracts with PAPER_SETTINGS: the boxes the defaults gave before the plate model
    and splitting became the defaults (measured on main), so the builder's data stay identical."""
    made = synthetic.make_photo_set(0, height=256, width=320, num_particles=(5, 7))
    assert [p.box for p in extraction.extract_particles(made.layers, extraction.PAPER_SETTINGS)] == [
        (26, 120, 68, 141), (62, 126, 106, 186), (69, 18, 110, 61), (81, 212, 165, 276), (120, 117, 156, 156),
        (165, 52, 219, 103), (192, 106, 240, 151), (192, 181, 244, 225)]
    assert len(extraction.extract_particles(made.layers, OLD_SPLIT)) == 15  # and the old --split_touching


def test_detection_on_varied_photo_sets():
    """Sets drawn unlike the builder's (light, casts, sizes, fragments, overlaps, frame cuts): the
    defaults find >= 0.9 of the particles (measured on these 4 sets of 640x512: 96/104 = 0.92,
    precision 96/111 = 0.86, overlapping 10/14 = 0.71); the paper's settings 65/104 = 0.63."""
    tallies = {"default": [], "paper": []}
    for index in range(4):
        made = grain_scenes.make_varied_photo_set(index, height=512, width=640)
        for name, settings in (("default", extraction.ExtractionSettings()), ("paper", extraction.PAPER_SETTINGS)):
            boxes = [p.box for p in extraction.extract_particles(made.layers, settings)]
            tallies[name].append(grain_photos.detection_tally(boxes, made.boxes, {"overlapping": made.overlapping}))
    default, paper = (grain_photos.pooled_scores(tallies[name]) for name in ("default", "paper"))
    assert default["recall"] >= 0.9 and default["precision"] >= 0.85 and default["overlapping_recall"] >= 0.7
    assert default["recall"] >= paper["recall"] + 0.2 and default["overlapping_recall"] > paper["overlapping_recall"]


def test_detection_tally_pools_groups():
    true = [(0, 0, 10, 10), (20, 20, 30, 30), (40, 40, 50, 50)]
    a = grain_photos.detection_tally([(0, 0, 10, 11), (60, 60, 70, 70)], true, {"cut": [True, False, True]})
    b = grain_photos.detection_tally([], true[:1], {"cut": [False]})
    assert a == {"matched": 1, "predicted": 2, "true": 3, "groups": {"cut": {"matched": 1, "true": 2}}}
    assert grain_photos.pooled_scores([a, b]) == {"precision": 0.5, "recall": 0.25, "matched": 1, "predicted": 2,
                                                 "true": 4, "cut_recall": 0.5}


def test_minimum_area_in_px_um2_or_the_old_fraction():
    settings = extraction.ExtractionSettings
    assert settings().min_area(1024, 1280) == extraction.DEFAULT_MIN_AREA_PX
    assert settings(min_area_px=150).min_area(1024, 1280) == 150
    assert settings(min_area_um2=2000, um_per_px=4.0).min_area(1024, 1280) == 125
    assert settings(min_area_fraction=1e-3).min_area(100, 200) == pytest.approx(20)
    with pytest.raises(ValueError, match="min_area_um2 needs um_per_px"):
        settings(min_area_um2=2000)
    with pytest.raises(ValueError, match="min_area_px and min_area_fraction both given"):
        settings(min_area_px=10, min_area_fraction=1e-3)
    # The minimum is applied: the same set keeps fewer particles as it grows.
    made = grain_scenes.make_varied_photo_set(1, height=256, width=320)
    counts = [len(extraction.extract_particles(made.layers, settings(min_area_um2=area, um_per_px=5.0)))
              for area in (0, 25 * 100, 25 * 400)]
    assert counts[0] > counts[1] > counts[2] >= 1


def test_settings_files_keep_the_old_key_and_take_the_new_ones(tmp_path):
    path = tmp_path / "extraction.json"
    path.write_text(json.dumps({"min_area_fraction": 0.015}))  # a file of before the px and um2 keys
    assert extraction.read_settings(path) == extraction.ExtractionSettings(min_area_fraction=0.015)
    assert extraction.read_settings(path, base=extraction.ExtractionSettings(min_area_px=9)).min_area_px is None
    path.write_text(json.dumps({"min_area_um2": 900, "um_per_px": 3}))
    assert extraction.read_settings(path).min_area(10, 10) == 100
    path.write_text(json.dumps({"min_area_um2": 900}))
    with pytest.raises(ValueError, match="extraction.json: min_area_um2 needs um_per_px"):
        extraction.read_settings(path)


def test_edge_particles_are_flagged_and_single_layers_work():
    made = synthetic.make_photo_set(5, height=256, width=320, num_particles=(6, 8))
    particles = extraction.extract_particles(made.layers[2:3])  # one layer only
    assert particles and all(p.widest_layer == 0 for p in particles)
    for p in particles:
        y0, x0, y1, x1 = p.box
        assert p.edge == (y0 == 0 or x0 == 0 or y1 == 256 or x1 == 320)


def test_bad_frames_are_named():
    plate = np.full((128, 160, 3), (40, 180, 55), np.uint8)
    with pytest.raises(coretf_io.ImageError, match="set-x: no particles found in any of its 6 layers"):
        extraction.extract_particles(np.stack([plate] * 6), name="set-x")
    with pytest.raises(coretf_io.ImageError, match="frame-y: overexposed"):
        extraction.foreground_mask(np.full((128, 160, 3), 255, np.uint8), name="frame-y")


def test_split_touching_separates_overlapping_discs():
    """Three overlapping discs on a dark plate: one particle by the paper's settings, three split
    (the default), by the paper's threshold or the plate model alike."""
    discs = [(100, 90, 40), (115, 150, 36), (160, 195, 32)]  # (cy, cx, radius); each overlaps the next
    image = np.full((256, 320, 3), 15, np.uint8)
    for cy, cx, radius in discs:
        cv2.circle(image, (cx, cy), radius, (190, 180, 160), -1)
    image = np.clip(image + np.random.default_rng(0).normal(0, 2, image.shape), 0, 255).astype(np.uint8)
    true = [(cy - r, cx - r, cy + r + 1, cx + r + 1) for cy, cx, r in discs]
    merged = extraction.extract_particles(image[None], dataclasses.replace(extraction.PAPER_SETTINGS, plate="dark"))
    assert [p.box for p in merged] == [(60, 50, 193, 228)]
    for settings in (extraction.ExtractionSettings(plate="dark"), dataclasses.replace(OLD_SPLIT, plate="dark")):
        split = extraction.extract_particles(image[None], settings)
        matches = grain_photos.match_boxes([p.box for p in split], true, min_iou=0.9)
        assert len(split) == 3 and len(matches) == 3
    ellipse = cv2.ellipse(np.zeros((120, 160), np.uint8), (80, 60), (60, 25), 30, 0, 360, 1, -1).astype(bool)
    assert extraction.split_particles(ellipse).max() == 1  # a convex particle is not cut


@pytest.mark.skipif(not REAL.is_dir(), reason="shared/realdata/segmenteverygrain is absent")
def test_detection_on_real_grains_on_a_dark_plate():
    """Real microscope photos of sand on a black plate, truth = the grains of their 3-class masks."""
    figures = {}
    for name in ("A003_20201229_103823", "20230511_132710955", "1_2"):
        image = coretf_io.to_uint8(coretf_io.read_image(REAL / f"{name}_image.png"))[..., :3]
        mask = coretf_io.read_image(REAL / f"{name}_mask.png")
        true = grain_photos.boxes_from_label_mask(mask)
        found = extraction.extract_particles(image[None], dataclasses.replace(OLD_SPLIT, plate="dark"))
        figures[name] = grain_photos.detection_scores([p.box for p in found], true)
    recall = sum(f["matched"] for f in figures.values()) / sum(f["true"] for f in figures.values())
    precision = sum(f["matched"] for f in figures.values()) / sum(f["predicted"] for f in figures.values())
    print(figures)
    assert recall >= RECALL_FLOOR and precision >= PRECISION_FLOOR


@pytest.mark.skipif(not REAL.is_dir(), reason="shared/realdata/segmenteverygrain is absent")
def test_defaults_on_a_real_photo_of_sand_on_a_black_plate():
    """The defaults with plate="dark" on one real microscope photo (124 grains: the connected
    components of its mask's grain class): measured precision 105/114 = 0.92, recall 105/124 =
    0.85 (scripts/benchmark_grains.py has all five photos)."""
    image = coretf_io.to_uint8(coretf_io.read_image(REAL / "A003_20201229_103823_image.png"))[..., :3]
    true = grain_photos.boxes_from_label_mask(coretf_io.read_image(REAL / "A003_20201229_103823_mask.png"))
    found = extraction.extract_particles(image[None], extraction.ExtractionSettings(plate="dark"))
    scores = grain_photos.detection_scores([p.box for p in found], true)
    assert scores["true"] == 124 and scores["precision"] >= 0.9 and scores["recall"] >= 0.8


def test_outlines_give_the_size_of_known_discs():
    """Separate discs of known radius on a dark plate: each particle's outline (found on the
    working copy, half size here) measures its equivalent diameter within 4 %, in mm too."""
    radii = [(60, 70, 22), (70, 200, 30), (180, 90, 40), (190, 250, 16)]  # (cy, cx, r)
    image = np.full((256, 1280, 3), 15, np.uint8)
    for cy, cx, r in radii:
        cv2.circle(image, (cx, cy), r, (190, 180, 160), -1)
    particles, labels, px_per_label = extraction.extract_labelled(image[None], extraction.ExtractionSettings(plate="dark"))
    assert px_per_label == 2.0 and labels.shape == (128, 640) and labels.max() == len(particles) == 4
    rows = grain_sizes.measure_labels(labels, mm_per_px=0.004, px_per_label=px_per_label)
    measured = sorted(r["equivalent_diameter_px"] for r in rows)
    assert measured == pytest.approx(sorted(2 * r + 1 for _, _, r in radii), rel=0.04)
    for row in rows:
        assert row["equivalent_diameter_mm"] == pytest.approx(0.004 * row["equivalent_diameter_px"])
        assert row["aspect_ratio"] > 0.85
    for index, particle in enumerate(particles):  # label i + 1 is particle i
        y0, x0, y1, x1 = (v // 2 for v in particle.box)
        assert np.all(np.isin(labels[y0:y1, x0:x1], (0, index + 1)))


@pytest.mark.skipif(not REAL.is_dir(), reason="shared/realdata/segmenteverygrain is absent")
def test_sizes_on_a_real_photo_match_its_grain_mask():
    """The defaults on a real photo of sand on a black plate: the D10/D50/D90 of the minor axis
    of the particles not cut by the frame against the same from the photo's hand-made mask.
    Measured: 85 vs 92 grains, D50 84.4 vs 85.1 px, D10 49.4 vs 52.6, D90 127.5 vs 128.7."""
    image = coretf_io.to_uint8(coretf_io.read_image(REAL / "A003_20201229_103823_image.png"))[..., :3]
    mask = coretf_io.read_image(REAL / "A003_20201229_103823_mask.png")
    _, labels, px_per_label = extraction.extract_labelled(image[None], extraction.ExtractionSettings(plate="dark"))
    found = [r["minor_axis_px"] for r in grain_sizes.measure_labels(labels, px_per_label=px_per_label)
             if not r["touches_edge"]]
    true = [r["minor_axis_px"] for r in grain_sizes.measure_labels(grain_sizes.labels_from_mask(mask))
            if not r["touches_edge"]]
    ours, theirs = grain_sizes.size_percentiles(found), grain_sizes.size_percentiles(true)
    assert abs(len(found) - len(true)) <= 0.1 * len(true)
    assert ours["D50"]["value"] == pytest.approx(theirs["D50"]["value"], rel=0.03)
    for key in ("D10", "D90"):
        assert ours[key]["value"] == pytest.approx(theirs[key]["value"], rel=0.08)


def test_command_processes_a_folder_reports_bad_sets_and_resumes(tmp_path):
    lab = tmp_path / "lab"
    for index in range(2):
        made = synthetic.make_photo_set(index, height=128, width=160, num_particles=(3, 4))
        for layer, image in enumerate(made.layers):
            coretf_io.write_image(lab / "S1" / f"P{index}" / f"f{layer}.png", image)
    for layer in range(5):  # an incomplete set
        coretf_io.write_image(lab / "S2" / f"Q_L{layer + 1}.png", made.layers[layer])
    coretf_io.write_image(lab / "S2" / "R_L1.png", made.layers[0])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "coretf.preprocess.grains", f"--input={lab}", f"--output={out}",
               "--crop_size=32", "--workers=1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]  # S2's sets failed, the others done
    assert "S2/Q: 5 layer image(s), expected 6" in result.stdout
    rows = (out / "particles.csv").read_text().splitlines()[1:]  # after the provenance line
    assert rows[0] == ",".join(grains_batch.CSV_COLUMNS) and len(rows) > 3
    crop = coretf_io.read_image(out / rows[1].split(",")[-1])
    assert crop.shape == (32, 6 * 32, 3)
    # Sizes and shapes per particle (no scale given: px only), their distribution, an overlay per set.
    grains = coretf_io.read_csv(out / "grains.csv")
    assert len(grains) == len(rows) - 1 and tuple(grains[0]) == grains_batch.GRAINS_COLUMNS
    assert all(float(g["minor_axis_px"]) <= float(g["major_axis_px"]) and g["minor_axis_mm"] == ""
               for g in grains)
    sizes = json.loads((out / "grain_sizes.json").read_text())
    whole = [float(g["minor_axis_px"]) for g in grains if g["edge"] == "0"]
    assert sizes["unit"] == "px" and sizes["groups"]["all"]["n"] == len(whole)
    assert sizes["groups"]["all"]["minor_axis"]["D50"]["value"] == pytest.approx(np.percentile(whole, 50))
    assert (out / "grain_sizes.png").exists() and "D50" in result.stdout
    overlay = coretf_io.read_image(out / "overlays" / "S1" / "P0.png")
    assert overlay.shape[1] == 160 and overlay.shape[0] > 128  # the set's frame under a legend
    stamp = os.path.getmtime(out / "boxes" / "S1" / "P0.csv")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert os.path.getmtime(out / "boxes" / "S1" / "P0.csv") == stamp  # done sets are skipped
    assert (out / "particles.csv").read_text().splitlines()[1:] == rows
    record = json.loads((out / extraction.SETTINGS_FILE).read_text())
    assert record.pop("provenance")["coretf"] and record == {
        "layers": 6, "crop_size": 32, "settings": dataclasses.asdict(extraction.ExtractionSettings())}

    # Other settings on the same output would mix two extractions: refused, nothing written.
    changed = subprocess.run(command + ["--plate=dark"], capture_output=True, text=True, timeout=300)
    assert changed.returncode == 2  # nothing could start
    assert "extracted with other settings (plate 'auto' -> 'dark'" in changed.stderr
    assert (out / "particles.csv").read_text().splitlines()[1:] == rows
    assert os.path.getmtime(out / "boxes" / "S1" / "P0.csv") == stamp

    # The record of a run is a settings file: a second run from it (flags override it) extracts alike.
    again = tmp_path / "again"
    rerun = [sys.executable, "-m", "coretf.preprocess.grains", f"--input={lab}", f"--output={again}",
             "--crop_size=32", "--workers=1", f"--settings={out / extraction.SETTINGS_FILE}", "--n_segments=300"]
    result = subprocess.run(rerun, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert json.loads((again / extraction.SETTINGS_FILE).read_text())["settings"] == dataclasses.asdict(
        extraction.ExtractionSettings(n_segments=300))

    # The minimum area in square micrometres replaces the file's minimum; without a scale, refused.
    um2 = tmp_path / "um2"
    result = subprocess.run(rerun[:4] + ["--crop_size=32", "--workers=1", f"--output={um2}", "--min_area_um2=30000", "--um_per_px=10",
                                         f"--settings={out / extraction.SETTINGS_FILE}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert json.loads((um2 / extraction.SETTINGS_FILE).read_text())["settings"] == dataclasses.asdict(
        extraction.ExtractionSettings(min_area_um2=30000.0, um_per_px=10.0))
    assert len((um2 / "particles.csv").read_text().splitlines()) - 1 < len(rows)  # 300 px: the small ones go
    grains = coretf_io.read_csv(um2 / "grains.csv")
    assert all(float(g["minor_axis_mm"]) == pytest.approx(0.01 * float(g["minor_axis_px"]), rel=1e-3)
               for g in grains)
    assert json.loads((um2 / "grain_sizes.json").read_text())["unit"] == "mm"
    result = subprocess.run(rerun[:4] + [f"--output={tmp_path / 'bad'}", "--min_area_um2=5000"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "min_area_um2 needs um_per_px" in result.stderr
    assert not (tmp_path / "bad").exists()


def test_read_settings_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"plate": "dark", "split_touching": True, "threshold": None, "compactness": 5}))
    assert extraction.read_settings(path) == extraction.ExtractionSettings(plate="dark", split_touching=True,
                                                                           compactness=5.0)
    # A run's record: the fields it lacks are the paper's (it was written before they existed).
    path.write_text(json.dumps({"layers": 1, "crop_size": 64, "settings": {"neck_ratio": 0.9}}))
    assert extraction.read_settings(path) == dataclasses.replace(extraction.PAPER_SETTINGS, neck_ratio=0.9)


@pytest.mark.parametrize("text, message", [
    ("{plate: dark}", "cannot read extraction settings"),
    ('["dark"]', "extraction settings must be a JSON object"),
    ('{"plate": "dark", "splt_touching": true}', r"unknown setting\(s\) splt_touching \(known: plate, "),
    ('{"split_touching": "yes"}', "split_touching must be bool, not 'yes'"),
    ('{"n_segments": true}', "n_segments must be int, not True"),
    ('{"threshold": "low"}', "threshold must be a number or null, not 'low'"),
    ('{"neck_ratio": 1.5}', r"neck_ratio = 1.5 out of range"),
    ('{"plate": "blue"}', "plate 'blue': must be one of auto, green, dark, light"),
])
def test_bad_settings_files_are_named(tmp_path, text, message):
    path = tmp_path / "lab_settings.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"lab_settings.json: {message}"):
        extraction.read_settings(path)
