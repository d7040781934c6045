"""Tests of the colour record (coretf.analysis.colour_lines, colour_batch, splice, resolution):
CIELAB as cv2.cvtColor computes it, exact per-line statistics on striped images, the 90 % rule,
depth, splicing with known offsets, the halves' cross-correlation with a known shift, a synthetic
section with its exact mask, and the command over a folder with bad input."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from coretf import io as coretf_io
from coretf import synthetic
from coretf.analysis import colour_batch
from coretf.analysis import colour_lines as cr
from coretf.analysis import resolution
from coretf.analysis import splice as splice_lib


def _lab(rgb_uint8, code=cv2.COLOR_RGB2Lab):
    """cv2's CIELAB of one or more uint8 RGB colours, (..., 3) float64."""
    rgb = np.asarray(rgb_uint8, np.uint8).reshape(1, -1, 3).astype(np.float32) / 255
    return cv2.cvtColor(rgb, code).astype(np.float64).reshape(np.shape(rgb_uint8))


def test_lab_is_cvtcolor_srgb_and_linear():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    full = np.ones((6, 9), np.uint8)
    for srgb, code in ((True, cv2.COLOR_RGB2Lab), (False, cv2.COLOR_LRGB2Lab)):
        stats = cr.line_statistics(image, full, depth_axis="y", srgb=srgb)
        expected = cv2.cvtColor(image.astype(np.float32) / 255, code).astype(np.float64)
        np.testing.assert_allclose(stats["mean"], expected.mean(1), atol=1e-9)
        np.testing.assert_allclose(stats["mean_unfiltered"], expected.mean(1), atol=1e-9)
        np.testing.assert_allclose(stats["median"][:, 0], np.median(expected[..., 0], 1), atol=1e-9)
    # The TF implementation in coretf.data.colour (OpenCV's table rebuilt) agrees to a step.
    from coretf.data import colour
    tf_lab = colour.rgb_to_lab(image.astype(np.float32) / 255, match_opencv=True).numpy()
    stats = cr.line_statistics(image, full, depth_axis="y")
    np.testing.assert_allclose(stats["mean"], tf_lab.mean(1), atol=0.016)
    # Known values: white is (100, 0, 0) both ways; mid grey is L* 53.39 as sRGB (gamma first;
    # cv2's table is within 0.25 of the formula) and 116 * 0.5^(1/3) - 16 = 76.07 as linear.
    grey = np.full((2, 2, 3), 0.5, np.float32)
    white = np.ones((2, 2, 3), np.float32)
    for image, srgb, lightness in ((white, True, 100.0), (white, False, 100.0),
                                   (grey, True, 53.389), (grey, False, 76.069)):
        stats = cr.line_statistics(image, np.ones((2, 2)), depth_axis="x", srgb=srgb)
        np.testing.assert_allclose(stats["mean"][:, 0], lightness, atol=0.25)
        np.testing.assert_allclose(stats["mean"][:, 1:], 0.0, atol=0.05)


def _striped(depth_lines=12, across=10):
    """Depth along x: line j has two colours, rows 0-4 `top[j]`, rows 5-9 `bottom[j]`."""
    top = np.stack([np.full(depth_lines, 60), 40 + 10 * np.arange(depth_lines),
                    np.full(depth_lines, 90)], 1).astype(np.uint8)
    bottom = np.stack([150 + 5 * np.arange(depth_lines), np.full(depth_lines, 120),
                       np.full(depth_lines, 30)], 1).astype(np.uint8)
    image = np.zeros((across, depth_lines, 3), np.uint8)
    image[: across // 2] = top[None]
    image[across // 2:] = bottom[None]
    return image, _lab(top), _lab(bottom)


def test_exact_statistics_and_the_90_percent_rule():
    image, lab_top, lab_bottom = _striped()
    mask = np.full(image.shape[:2], 255, np.uint8)
    mask[9, 1] = 0            # line 1: 9 of 10 kept -> exactly 90 %, kept
    mask[8:, 2] = 0           # line 2: 8 of 10 -> 80 %, left empty
    mask[:, 3] = 0            # line 3: nothing kept
    mask[0, 4] = 0            # line 4: one of the top colour removed
    record = cr.section_record("S", image, mask, px_per_cm=4.0, top_depth_cm=100.0,
                               depth_axis="x")
    np.testing.assert_array_equal(record.offset_cm, np.arange(12) / 4.0)
    np.testing.assert_array_equal(record.depth_cm, 100.0 + np.arange(12) / 4.0)
    np.testing.assert_allclose(record.kept_fraction[:5], [1.0, 0.9, 0.8, 0.0, 0.9])
    # Line 0: five of each colour.
    t, b = lab_top[0], lab_bottom[0]
    np.testing.assert_allclose(record.mean[0], (t + b) / 2, atol=1e-9)
    np.testing.assert_allclose(record.sd[0], np.abs(t - b) / 2, atol=1e-9)
    np.testing.assert_allclose(record.median[0], (t + b) / 2, atol=1e-9)
    # Line 1: five top, four bottom: mean, population SD sqrt(p (1 - p)) |t - b|, median.
    t, b = lab_top[1], lab_bottom[1]
    p = 5 / 9
    np.testing.assert_allclose(record.mean[1], p * t + (1 - p) * b, atol=1e-9)
    np.testing.assert_allclose(record.sd[1], np.sqrt(p * (1 - p)) * np.abs(t - b), atol=1e-9)
    np.testing.assert_allclose(record.median[1], t, atol=1e-9)  # the majority colour
    assert np.isnan(record.mean[2:4]).all() and np.isnan(record.sd[2:4]).all()
    assert np.isnan(record.median[2:4]).all()
    # Line 4: four top, five bottom.
    t, b = lab_top[4], lab_bottom[4]
    np.testing.assert_allclose(record.mean[4], 4 / 9 * t + 5 / 9 * b, atol=1e-9)
    np.testing.assert_allclose(record.median[4], b, atol=1e-9)
    # Unfiltered: the whole line, whatever the mask.
    np.testing.assert_allclose(record.mean_unfiltered, (lab_top + lab_bottom) / 2, atol=1e-9)
    # The rule is a flag: at 0.8, line 2 (five top, three bottom pixels) counts.
    loose = cr.section_record("S", image, mask, px_per_cm=4.0, top_depth_cm=100.0,
                              depth_axis="x", min_kept=0.8)
    np.testing.assert_allclose(loose.mean[2], (5 * lab_top[2] + 3 * lab_bottom[2]) / 8, atol=1e-9)
    assert np.isnan(loose.mean[3]).all()
    # Halves: rows 0-4 and 5-9 are the two sides of the centre line.
    np.testing.assert_allclose(record.halves_unfiltered, np.stack(
        [lab_top[:, 0], lab_bottom[:, 0]], 1), atol=1e-9)
    assert np.isnan(record.halves[2:4, 1]).all() and np.isnan(record.halves[3, 0])


def test_halves_need_ninety_percent_of_their_own_width():
    image, lab_top, lab_bottom = _striped()
    mask = np.ones(image.shape[:2], np.uint8)
    mask[0, 4] = 0  # one of the five top-half pixels of line 4
    record = cr.section_record("S", image, mask, px_per_cm=4.0, top_depth_cm=0.0, depth_axis="x")
    assert np.isnan(record.halves[4, 0])
    np.testing.assert_allclose(record.halves[4, 1], lab_bottom[4, 0], atol=1e-9)
    np.testing.assert_allclose(record.halves[5], [lab_top[5, 0], lab_bottom[5, 0]], atol=1e-9)


def test_depth_axis_top_px_and_block_size():
    image, _, _ = _striped(depth_lines=40)
    mask = (np.random.default_rng(1).random(image.shape[:2]) > 0.05).astype(np.uint8)
    along_x = cr.section_record("S", image, mask, px_per_cm=2.0, top_depth_cm=10.0,
                                depth_axis="x", top_px=3)
    along_y = cr.section_record("S", image.transpose(1, 0, 2).copy(), mask.T.copy(),
                                px_per_cm=2.0, top_depth_cm=10.0, depth_axis="y", top_px=3)
    assert len(along_x) == 37 and along_x.depth_cm[0] == 10.0 and along_x.depth_cm[-1] == 28.0
    for field in ("kept_fraction", "mean", "sd", "median", "mean_unfiltered", "halves"):
        np.testing.assert_array_equal(getattr(along_x, field), getattr(along_y, field))
    blocked = cr.line_statistics(image, mask, depth_axis="x", block_lines=7)
    whole = cr.line_statistics(image, mask, depth_axis="x", block_lines=1000)
    for name in whole:
        np.testing.assert_allclose(blocked[name], whole[name], atol=1e-12)
    np.testing.assert_allclose(blocked["mean"][3:], along_x.mean, atol=1e-12)
    with pytest.raises(ValueError, match="mask is 10x39 px but the image is 10x40 px"):
        cr.line_statistics(image, mask[:, 1:], depth_axis="x")
    with pytest.raises(ValueError, match="top_px=40"):
        cr.section_record("S", image, mask, px_per_cm=2.0, top_depth_cm=0, depth_axis="x", top_px=40)


def test_record_csv_round_trip(tmp_path):
    image, _, _ = _striped()
    mask = np.ones(image.shape[:2], np.uint8)
    mask[:, 3] = 0
    record = cr.section_record("S", image, mask, px_per_cm=4.0, top_depth_cm=100.0, depth_axis="x")
    path = str(tmp_path / "S_colour.csv")
    cr.write_record_csv(path, record)
    with open(path) as f:
        rows = list(coretf_io.csv_rows(f))
    assert tuple(rows[0]) == cr.RECORD_COLUMNS == (
        "offset_cm", "depth_cm", "kept_fraction", "L_mean", "L_sd", "L_median", "a_mean", "a_sd",
        "a_median", "b_mean", "b_sd", "b_median", "L_mean_unfiltered", "a_mean_unfiltered",
        "b_mean_unfiltered")
    assert rows[4][:4] == ["0.75", "100.75", "0", ""]  # line 3: filtered out, left empty
    back = cr.read_record_csv(path, "S")
    np.testing.assert_allclose(cr.record_table(back), cr.record_table(record), rtol=1e-8)


def test_cross_correlation_finds_a_known_shift():
    rng = np.random.default_rng(2)
    signal = np.convolve(rng.normal(size=400), np.ones(5) / 5, mode="same")
    shift = 7
    x, y = signal[20:320], signal[20 - shift:320 - shift]  # y[i] = x[i - 7]
    r = resolution.cross_correlation(x, y, 10)
    assert r.shape == (21,) and int(np.argmax(r)) == 10 + shift
    assert r[10 + shift] == pytest.approx(1.0, abs=1e-9)
    x_gappy = x.copy()
    x_gappy[50:80] = np.nan  # filtered-out lines are left out pairwise
    r_gappy = resolution.cross_correlation(x_gappy, y, 10)
    assert int(np.argmax(r_gappy)) == 10 + shift and r_gappy[10 + shift] == pytest.approx(1.0, abs=1e-9)
    assert np.isnan(resolution.cross_correlation(np.ones(30), y[:30], 2)).all()  # no variance
    # Against the direct pairwise-complete Pearson correlation, lag by lag.
    y_gappy = y + rng.normal(0, 0.3, y.shape)
    y_gappy[200:230] = np.nan
    r_fft = resolution.cross_correlation(x_gappy, y_gappy, 40)
    for k in range(-40, 41):
        a, b = (x_gappy[:len(x) - k], y_gappy[k:]) if k >= 0 else (x_gappy[-k:], y_gappy[:len(x) + k])
        both = np.isfinite(a) & np.isfinite(b)
        assert r_fft[k + 40] == pytest.approx(np.corrcoef(a[both], b[both])[0, 1], abs=1e-9)


def test_halves_of_an_image_with_a_known_shift():
    # Beds that dip across the core: the second half sees each bed 3 lines deeper.
    rng = np.random.default_rng(3)
    grey = np.clip(128 + 60 * np.convolve(rng.normal(size=300), np.ones(4) / 2, "same"), 0, 255)
    shift, px_per_cm = 3, 10.0
    image = np.zeros((8, 250, 3), np.uint8)
    image[:4] = grey[None, 20:270, None].astype(np.uint8)
    image[4:] = grey[None, 20 - shift:270 - shift, None].astype(np.uint8)
    mask = np.ones((8, 250), np.uint8)
    mask[5, 100:140] = 0  # filtered-out lines in the second half only
    record = cr.section_record("S", image, mask, px_per_cm=px_per_cm, top_depth_cm=0.0,
                               depth_axis="x")
    table = resolution.resolution_analysis(record.halves_unfiltered, record.halves, px_per_cm, 1.0,
                                           step_cm=0.1)
    assert table.shape == (21, 5)
    np.testing.assert_allclose(table[:, 0], np.arange(-10, 11) / 10.0)
    for column in range(1, 5):
        assert table[int(np.nanargmax(table[:, column])), 0] == pytest.approx(shift / px_per_cm)
        assert np.nanmax(table[:, column]) == pytest.approx(1.0, abs=1e-9)


def test_binning_before_the_cross_correlation():
    record = np.array([[1.0, 2.0], [3.0, np.nan], [np.nan, np.nan], [np.nan, 4.0], [7.0, 8.0]])
    np.testing.assert_array_equal(resolution.bin_record(record, 2), [[2.0, 2.0], [np.nan, 4.0]])
    # A shift of 4 lines is 2 bins of 2 lines: the peak moves to 0.4 cm, still exactly 1.
    rng = np.random.default_rng(4)
    signal = np.convolve(rng.normal(size=500), np.ones(6) / 6, "same")
    halves = np.stack([signal[10:490], signal[6:486]], 1)  # second half = first, 4 lines deeper
    table = resolution.resolution_analysis(halves, halves, 10.0, 1.0, step_cm=0.2)
    np.testing.assert_allclose(table[:, 0], np.arange(-5, 6) * 0.2)
    for column in range(1, 5):
        assert table[int(np.nanargmax(table[:, column])), 0] == pytest.approx(0.4)
        assert np.nanmax(table[:, column]) == pytest.approx(1.0, abs=1e-9)


def test_peak_halfwidth_of_a_triangle():
    lags = np.arange(-20, 21) / 10.0
    r = np.maximum(0.0, 0.8 * (1 - np.abs(lags) / 0.6))
    table = np.column_stack([lags, r, r, r, r])
    assert resolution.peak_halfwidth_cm(table) == pytest.approx(0.3)
    assert np.isnan(resolution.peak_halfwidth_cm(np.column_stack([lags] + [np.ones(41)] * 4)))


def _record_table(n_lines, px_per_cm, value):
    offsets = np.arange(n_lines) / px_per_cm
    return np.column_stack([offsets, 500 + offsets, np.ones(n_lines), np.full(n_lines, value)])


def test_splice_with_known_offsets():
    records = {"A": _record_table(120, 2.0, 10.0), "B": _record_table(100, 2.0, 20.0)}
    table = [splice_lib.SpliceRow("B", 0.0, 30.0, 1.40), splice_lib.SpliceRow("A", 10.0, 50.0, 1.00),
             splice_lib.SpliceRow("C", 0.0, 20.0, 2.00)]
    depth, sections, rows, status = splice_lib.splice(records, table)
    assert len(depth) == 80 + 60
    np.testing.assert_allclose(depth[:80], 1.00 + np.arange(80) * 0.005)
    np.testing.assert_allclose(depth[80:], 1.40 + np.arange(60) * 0.005)
    assert list(sections[:80]) == ["A"] * 80 and list(sections[80:]) == ["B"] * 60
    np.testing.assert_array_equal(rows[:80, 0], np.arange(20, 100) / 2.0)  # A's offsets 10-49.5
    np.testing.assert_array_equal(rows[:, 3], [10.0] * 80 + [20.0] * 60)
    assert status == [("A", "ok", ""), ("B", "ok", ""),
                      ("C", "failed", "no colour record for this section")]
    # B's record is 50 cm long: an interval to 60 cm is spliced as far as it goes, with a note.
    _, _, rows, status = splice_lib.splice(records, [splice_lib.SpliceRow("B", 40.0, 60.0, 0.0)])
    assert len(rows) == 20 and "record ends at 50.00 cm" in status[0][2]
    with pytest.raises(ValueError, match="overlap: A reaches 1.4000 m, below the top of B at 1.3900"):
        splice_lib.splice(records, [splice_lib.SpliceRow("A", 10.0, 50.0, 1.00),
                                    splice_lib.SpliceRow("B", 0.0, 30.0, 1.39)])


def test_read_splice_table_errors(tmp_path):
    good = tmp_path / "splice.csv"
    good.write_text("section,top_offset_cm,bottom_offset_cm,composite_depth_m\nA,10,50,1.0\n")
    assert splice_lib.read_splice_table(str(good)) == [splice_lib.SpliceRow("A", 10.0, 50.0, 1.0)]
    cases = {"section,top_offset_cm,bottom_offset_cm\nA,1,2\n": "missing column",
             "section,top_offset_cm,bottom_offset_cm,composite_depth_m\nA,5,5,1\n": "line 2: bottom",
             "section,top_offset_cm,bottom_offset_cm,composite_depth_m\nA,x,5,1\n": "line 2: could not",
             "section,top_offset_cm,bottom_offset_cm,composite_depth_m\nA,0,5,nan\n":
                 "line 2: need composite_depth_m to be finite",
             "section,top_offset_cm,bottom_offset_cm,composite_depth_m\n": "lists no intervals"}
    for text, message in cases.items():
        good.write_text(text)
        with pytest.raises(ValueError, match=message):
            splice_lib.read_splice_table(str(good))


def test_synthetic_section_with_its_exact_mask():
    section = synthetic.make_section(3, seed=0, length_cm=30.0, px_per_cm=20.0)
    x0, y0, x1, y1 = section.core_box
    image, mask = section.image[y0:y1, x0:x1], section.mask[y0:y1, x0:x1]
    record = cr.section_record(section.section_id, image, mask, px_per_cm=20.0,
                               top_depth_cm=section.top_depth_cm, depth_axis="x", min_kept=0.0)
    assert len(record) == 600 and record.depth_cm[0] == section.top_depth_cm == 90.0
    np.testing.assert_allclose(record.kept_fraction, mask.mean(0), atol=1e-12)
    # Pooled over lines, the filtered means are the section mean over undisturbed pixels.
    count = record.kept_fraction * mask.shape[0]
    pooled = np.nansum(record.mean * count[:, None], 0) / count.sum()
    np.testing.assert_allclose(pooled, synthetic.section_mean_lab(section), atol=1e-4)
    # The two colour clusters differ by 5.0 in a* (CLUSTER_MEANS_LAB); the record shows it.
    strict = cr.section_record(section.section_id, image, mask, px_per_cm=20.0,
                               top_depth_cm=90.0, depth_axis="x")
    kept = np.isfinite(strict.mean[:, 1])
    assert kept.mean() == pytest.approx(0.6717, abs=1e-4)
    by_cluster = [strict.mean[kept & (section.cluster == k), 1].mean() for k in (0, 1)]
    assert 4.0 < by_cluster[1] - by_cluster[0] < 6.0
    # Disturbance makes the two halves disagree: removing it raises the differenced
    # cross-correlation at lag 0 (the paper's Fig. 15 finding).
    table = resolution.resolution_analysis(strict.halves_unfiltered, strict.halves, 20.0, 1.0)
    assert table.shape == (21, 5) and table[10, 0] == 0.0  # 0.1 cm bins of 2 lines
    assert table[10, 2] > table[10, 1] > 0.3
    assert table[10, 4] > table[10, 3] + 0.2


def _write_inputs(folder):
    """Three synthetic sections (PNG + mask, RGBA, PNG + mask) and a corrupt TIFF."""
    os.makedirs(folder / "masks")
    rows = ["section,px_per_cm,top_depth_cm,depth_axis"]
    for index, kind in ((0, "mask"), (1, "alpha"), (2, "mask_y")):
        s = synthetic.make_section(index, seed=1, length_cm=10.0, px_per_cm=10.0)
        x0, y0, x1, y1 = s.core_box
        image, mask = s.image[y0:y1, x0:x1], s.mask[y0:y1, x0:x1] * 255
        axis = "x"
        if kind == "alpha":
            coretf_io.write_image(str(folder / f"{s.section_id}.png"), np.dstack([image, mask]))
        else:
            if kind == "mask_y":
                image, mask, axis = image.transpose(1, 0, 2), mask.T, "y"
            coretf_io.write_image(str(folder / f"{s.section_id}.png"), np.ascontiguousarray(image))
            coretf_io.write_image(str(folder / "masks" / f"{s.section_id}_mask.png"),
                                  np.ascontiguousarray(mask))
        rows.append(f"{s.section_id},10,{s.top_depth_cm},{axis}")
    coretf_io.write_image(str(folder / "S0009.tif"), np.ascontiguousarray(image))
    data = (folder / "S0009.tif").read_bytes()
    (folder / "S0009.tif").write_bytes(data[: len(data) // 2])  # truncated
    rows.append("S0009,10,90,x")
    (folder / "sections.csv").write_text("\n".join(rows) + "\n")
    (folder / "splice.csv").write_text(
        "section,top_offset_cm,bottom_offset_cm,composite_depth_m\n"
        "S0000,0,8,0.0\nS0001,1,9,0.08\nS0002,0,10,0.16\nS0007,0,5,0.30\n")


def test_command_over_a_folder(tmp_path):
    _write_inputs(tmp_path)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "coretf.analysis.colour_record", f"--input={tmp_path}",
               f"--masks={tmp_path / 'masks'}", f"--sections={tmp_path / 'sections.csv'}",
               f"--output={out}", f"--splice={tmp_path / 'splice.csv'}", "--max_lag_cm=0.5"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr  # the corrupt TIFF and S0007 fail
    assert f"FAILED {tmp_path / 'S0009.tif'}: " in result.stdout
    assert f"FAILED {tmp_path / 'splice.csv'}: section S0007: " in result.stdout
    status = {row["section"]: row for row in coretf_io.read_csv(out / "colour_record_status.csv")}
    assert [status[s]["status"] for s in ("S0000", "S0001", "S0002", "S0009")] == [
        "ok", "ok", "ok", "failed"]
    assert status["S0001"]["lines"] == "100" and status["S0002"]["lines"] == "100"
    for stem in ("S0000", "S0001", "S0002"):
        for suffix in colour_batch.OUTPUT_SUFFIXES:
            assert (out / f"{stem}{suffix}").stat().st_size > 0
    assert not (out / "S0009_colour.csv").exists()
    # The composite: 80 + 80 + 100 lines at 1 mm, S0007 has no record.
    composite = coretf_io.read_csv(out / "composite_colour.csv")
    assert len(composite) == 260
    assert [composite[i]["section"] for i in (0, 80, 160)] == ["S0000", "S0001", "S0002"]
    assert float(composite[80]["composite_depth_m"]) == pytest.approx(0.08)
    assert float(composite[80]["offset_cm"]) == pytest.approx(1.0)
    assert (out / "composite_colour.png").stat().st_size > 0
    assert [r["status"] for r in coretf_io.read_csv(out / "composite_status.csv")] == ["ok", "ok", "ok", "failed"]
    s0 = cr.read_record_csv(str(out / "S0000_colour.csv"), "S0000")
    assert s0.depth_cm[0] == 0.0 and len(s0) == 100
    # A rerun skips what is done and still reports the bad file.
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "0 measured, 3 done earlier, 1 failed" in again.stdout


def test_reading_images_and_masks(tmp_path):
    image, _, _ = _striped()
    mask = np.full(image.shape[:2], 255, np.uint8)
    mask[:, 3] = 0
    (tmp_path / "masks").mkdir()
    coretf_io.write_image(str(tmp_path / "A.png"), image)
    coretf_io.write_image(str(tmp_path / "masks" / "A_mask.png"), mask)
    rgb, keep = colour_batch.read_image_and_mask(str(tmp_path / "A.png"), str(tmp_path / "masks"))
    np.testing.assert_array_equal(rgb, image)
    np.testing.assert_array_equal(keep, mask > 0)
    _, inverted = colour_batch.read_image_and_mask(str(tmp_path / "A.png"), str(tmp_path / "masks"), True)
    np.testing.assert_array_equal(inverted, mask == 0)
    # RGBA: the alpha is the label unless a mask file is given; 16-bit gives the same record.
    alpha = np.where(np.arange(12) == 5, 0, 65535).astype(np.uint16)[None].repeat(10, 0)
    rgba16 = np.dstack([image.astype(np.uint16) * 257, alpha])
    coretf_io.write_image(str(tmp_path / "B.tif"), rgba16)
    rgb16, keep16 = colour_batch.read_image_and_mask(str(tmp_path / "B.tif"), None)
    assert rgb16.dtype == np.uint16
    np.testing.assert_array_equal(keep16, alpha > 0)
    record8 = cr.section_record("A", image, keep16, px_per_cm=1, top_depth_cm=0, depth_axis="x")
    record16 = cr.section_record("B", rgb16, keep16, px_per_cm=1, top_depth_cm=0, depth_axis="x")
    np.testing.assert_allclose(cr.record_table(record16), cr.record_table(record8), atol=1e-4)
    assert np.isnan(record16.mean[5]).all() and np.isfinite(record16.mean[4]).all()
    coretf_io.write_image(str(tmp_path / "G.png"), image[..., 0])
    coretf_io.write_image(str(tmp_path / "masks" / "C_mask.png"), mask[:, 1:])
    coretf_io.write_image(str(tmp_path / "C.png"), image)
    coretf_io.write_image(str(tmp_path / "D.png"), image)
    coretf_io.write_image(str(tmp_path / "F.tif"), image.astype(np.float32))  # 0-255 floats
    for name, message in (("G.png", "G.png: expected an RGB or RGBA photograph, got a grayscale"),
                          ("F.tif", "F.tif: float image values must lie in \\[0, 1\\], found 30 to 205"),
                          ("C.png", "C_mask.png: mask is 10x11 px but C.png is 10x12 px"),
                          ("D.png", "D.png: RGB image without alpha channel and no mask .*D_mask.png")):
        with pytest.raises(ValueError, match=message):
            colour_batch.read_image_and_mask(str(tmp_path / name), str(tmp_path / "masks"))
    assert coretf_io.list_images(str(tmp_path), exclude_stems=colour_batch.NOT_PHOTOGRAPHS) == [
        str(tmp_path / n) for n in ("A.png", "B.tif", "C.png", "D.png", "F.tif", "G.png")]


@pytest.mark.parametrize("shape", [(1, 1, 4), (10, 10, 4), (12, 400, 4)])
def test_an_image_too_small_for_a_record_is_refused_by_name(tmp_path, shape):
    path = tmp_path / "tiny.png"
    coretf_io.write_image(path, np.full(shape, 120, np.uint8))  # RGBA: alpha is the mask
    with pytest.raises(coretf_io.ImageError, match=r"tiny.png: .* px is not a core photograph"):
        colour_batch.measure_section(str(path), None, str(tmp_path / "out"),
                                     colour_batch.Placement(10.0, 0.0, "x"))
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")
