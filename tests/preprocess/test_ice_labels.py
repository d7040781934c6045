"""Weak labels and baselines: the histogram GMM against scikit-learn, field of view, stacks, and
the command on paired stacks, single slices and one stack (exit codes 0 / 1 / 2)."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from skimage.filters import threshold_otsu
from sklearn.mixture import GaussianMixture

from coretf import io as coretf_io
from coretf.preprocess import ice_slices, ice_stack
from coretf.synthetic import ice


@pytest.fixture(scope="module")
def specimens():
    return [ice.make_specimen(i, size=128, slices=8) for i in range(3)]


def _sklearn_first_ice_level(labels: ice_slices.SliceLabels) -> int:
    pixels = labels.image[labels.fov_mask].reshape(-1, 1).astype(np.float64)
    gmm = GaussianMixture(2, covariance_type="tied", init_params="kmeans", random_state=0).fit(pixels)
    predicted = gmm.predict(np.arange(256, dtype=np.float64).reshape(-1, 1))
    return int(np.argmax(predicted == int(np.argmax(gmm.means_.ravel()))))


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_histogram_gmm_matches_full_sklearn_fit_within_one_level(specimens, kind):
    labels = ice_slices.label_slice(specimens[kind].high_slice(3))
    ours = int(np.floor(labels.gmm_threshold)) + 1  # first grey level labelled ice
    assert abs(ours - _sklearn_first_ice_level(labels)) <= 1
    # and it segments the high-res slice well against the exact truth
    truth = specimens[kind].ice[3][labels.fov_mask]
    assert np.mean(labels.gmm[labels.fov_mask] == truth) > 0.96


def test_mixture_of_known_gaussians():
    levels = np.arange(256)
    counts = (300 * np.exp(-0.5 * ((levels - 60) / 12.0) ** 2)
              + 100 * np.exp(-0.5 * ((levels - 190) / 12.0) ** 2))
    mixture = ice_slices.fit_mixture(np.round(counts))
    np.testing.assert_allclose(mixture.means, (60, 190), atol=0.5)
    np.testing.assert_allclose(mixture.weights, (0.75, 0.25), atol=0.01)
    assert mixture.variance == pytest.approx(144, rel=0.02)
    # densities cross where 0.75 N(x; 60) = 0.25 N(x; 190): 125 + 144 ln 3 / 130
    assert mixture.threshold == pytest.approx(125 + 144 * np.log(3) / 130, abs=0.3)
    with pytest.raises(ValueError, match="two grey levels"):
        ice_slices.fit_mixture(np.eye(256)[7] * 100)


def test_otsu_matches_scikit_image_on_pixels(specimens):
    labels = ice_slices.label_slice(specimens[1].high_slice(0))
    assert labels.otsu_threshold == threshold_otsu(labels.image[labels.fov_mask])
    np.testing.assert_array_equal(labels.otsu, (labels.image > labels.otsu_threshold) & labels.fov_mask)


def test_field_of_view_is_inside_the_tube(specimens):
    for specimen in specimens:
        fov = ice_slices.find_field_of_view(ice_slices.denoise(specimen.high_slice(0)))
        np.testing.assert_allclose(fov.centre, specimen.centre, atol=1.0)
        assert specimen.tube_radius - 4 < fov.radius < specimen.tube_radius


def test_low_resolution_label_averages_two_slices():
    first = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], bool)
    second = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1]], bool)
    # blocks: 8/8 ice, 1/8, 3/8, 4/8 (a tie counts as ice); the odd last row is dropped
    np.testing.assert_array_equal(ice_slices.low_resolution_label(first, second), [[1, 0], [0, 1]])


def test_blank_and_bad_slices_are_refused():
    with pytest.raises(ice_slices.BlankSliceError, match="s7.png: all-black slice"):
        ice_slices.label_slice(np.zeros((64, 64), np.uint16), "s7.png")
    with pytest.raises(ice_slices.BlankSliceError, match="blank slice"):
        ice_slices.label_slice(np.full((64, 64), 9, np.uint8), "s8.png")
    with pytest.raises(coretf_io.ImageError, match="grayscale 8- or 16-bit"):
        ice_slices.label_slice(np.zeros((8, 8, 3), np.uint8), "rgb.png")


def test_sixteen_bit_slices_label_like_eight_bit(specimens):
    image = specimens[0].high_slice(1)
    eight, sixteen = ice_slices.label_slice(image), ice_slices.label_slice(image.astype(np.uint16) * 257)
    assert np.mean(eight.gmm == sixteen.gmm) > 0.999


@pytest.fixture
def stack(tmp_path, specimens):
    firn = specimens[1]
    for z in range(8):
        coretf_io.write_image(tmp_path / "high" / f"h{z}.png", firn.high_slice(z))
    for k in range(4):
        coretf_io.write_image(tmp_path / "low" / f"l{k}.png", firn.low_slice(k))
    return tmp_path


def test_command_labels_a_stack_reports_bad_slices_and_resumes(stack):
    coretf_io.write_image(stack / "high" / "h5.png", np.zeros((128, 128), np.uint8))  # blank
    coretf_io.write_image(stack / "low" / "l3.png", np.zeros((60, 64), np.uint8))  # wrong size
    command = [sys.executable, "-m", "coretf.preprocess.ice_labels", f"--high_dir={stack / 'high'}",
               f"--low_dir={stack / 'low'}", f"--output={stack / 'out'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]  # some slices failed (PRODUCT.md)
    assert "labelled 2 low-res slices" in result.stdout
    assert "h5.png: all-black slice" in result.stdout
    assert "l3.png: 60x64 uint8 differs from the stack's first slice l0.png" in result.stdout
    weak = coretf_io.read_image(stack / "out" / "weak" / "l0.png")
    assert weak.shape == (64, 64) and set(np.unique(weak)) <= {0, 255}
    rows = coretf_io.read_csv(stack / "out" / "thresholds.csv")
    assert [r["slice"] for r in rows] == ["l0.png", "l1.png"]
    assert 0.7 < float(rows[0]["weak_ice_fraction"]) < 0.9  # firn: ~0.79 ice
    # rerun after fixing nothing: done slices are skipped, bad ones reported again
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "labelled 0 low-res slices" in again.stdout and "skipped 2 bad slices" in again.stdout
    assert json.loads((stack / "out" / "slices" / "l1.json").read_text())["index"] == 1


def test_stacks_that_do_not_pair_are_refused(stack):
    (stack / "high" / "h7.png").unlink()
    with pytest.raises(coretf_io.ImageError, match=r"\(7 slices\) and .*low \(4 slices\) do not pair up"):
        list(ice_stack.label_stack(str(stack / "high"), str(stack / "low")))
    with pytest.raises(coretf_io.ImageError, match="no slices"):
        ice_stack.list_slices(stack)  # holds folders only


def test_natural_order():
    names = ["s10.png", "s2.png", "s1.png"]
    assert sorted(names, key=ice_stack.natural_key) == ["s1.png", "s2.png", "s10.png"]


REALDATA = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"
SNOWEX = REALDATA / "snowex_microct_slice" / "2n13_139-137cm_20um_redo_rec_voi_0253.png"


def _run(*flags_):
    return subprocess.run([sys.executable, "-m", "coretf.preprocess.ice_labels", *flags_],
                          capture_output=True, text=True, timeout=120)


def _rows(folder):
    return coretf_io.read_csv(folder / "thresholds.csv")


def test_command_labels_one_stack_slice_by_slice_reports_bad_files_and_resumes(tmp_path, specimens):
    stack = tmp_path / "stack"
    for z in range(4):
        coretf_io.write_image(stack / f"s{2 * z + 2}.png", specimens[1].high_slice(z))  # firn
    coretf_io.write_image(stack / "s9.jpg", specimens[1].high_slice(5))
    (stack / "s10.png").write_bytes((stack / "s2.png").read_bytes()[:300])  # truncated PNG
    (stack / "s11.jpg").write_bytes((stack / "s9.jpg").read_bytes()[:-400])  # truncated JPEG
    coretf_io.write_image(stack / "s12.png", np.zeros((128, 128), np.uint8))  # blank
    out = tmp_path / "out"
    result = _run(f"--input={stack}", f"--output_dir={out}")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "warning: --output_dir is deprecated, use --output" in result.stderr  # the old name still works
    assert "labelled 5 slices" in result.stdout and "skipped 3 bad slices" in result.stdout
    assert f"{stack / 's10.png'}: cannot be decoded" in result.stdout
    assert f"{stack / 's11.jpg'}: cannot be decoded" in result.stdout
    assert "s12.png: all-black slice" in result.stdout
    rows = _rows(out)
    assert [r["slice"] for r in rows] == ["s2.png", "s4.png", "s6.png", "s8.png", "s9.jpg"]
    for row, z in zip(rows, (0, 1, 2, 3, 5)):
        truth = specimens[1].ice[z]
        fov = coretf_io.read_image(out / "fov" / f"{row['slice'][:-4]}.png") > 0
        gmm = coretf_io.read_image(out / "gmm" / f"{row['slice'][:-4]}.png") > 0
        assert row["fov_source"] == "ring" and row["fov_warning"] == ""
        assert float(row["gmm_ice_fraction"]) == pytest.approx(truth[fov].mean(), abs=0.02)
        assert np.mean(gmm[fov] == truth[fov]) > 0.95
    assert coretf_io.read_image(out / "image" / "s2.png").shape == (128, 128)
    for name in ("s10.png", "s11.jpg", "s12.png"):
        (stack / name).unlink()
    again = _run(f"--input={stack}", f"--output={out}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "labelled 0 slices (5 done before)" in again.stdout


def test_command_labels_a_single_slice_with_each_fov_mode(tmp_path, specimens):
    path = tmp_path / "slice.tif"
    coretf_io.write_image(path, specimens[0].high_slice(2).astype(np.uint16) * 257)
    for fov, source, radius in (("auto", "ring", None), ("none", "image", None),
                                ("60.5,64,40", "given", 40.0)):
        result = _run(f"--input={path}", f"--output={tmp_path / fov}", f"--fov={fov}")
        assert result.returncode == 0, result.stderr[-2000:]
        assert "labelled 1 slice into" in result.stdout
        record = json.loads((tmp_path / fov / "slices" / "slice.json").read_text())
        assert record["fov_source"] == source and record["fov_warning"] is None
        if radius:
            assert (record["fov_x"], record["fov_y"], record["fov_r"]) == (60.5, 64.0, radius)
        mask = coretf_io.read_image(tmp_path / fov / "fov" / "slice.png") > 0
        assert mask.sum() == record["fov_pixels"]
    assert mask.sum() == pytest.approx(np.pi * 40**2, rel=0.01)


def test_command_refuses_what_cannot_start_with_exit_2(tmp_path, specimens):
    path = tmp_path / "slice.png"
    coretf_io.write_image(path, specimens[0].high_slice(0))
    out = tmp_path / "out"
    cases = [
        ((f"--input={path}", f"--output={out}", "--fov=200,10,5"),
         f"error: --fov: {path}: the field of view's centre x=200, y=10 is outside the 128x128 px "
         f"slice (x across, y down, from the top-left corner)"),
        ((f"--input={path}", f"--output={out}", "--fov=circle"), "error: --fov=circle: expected"),
        ((f"--input={tmp_path / 'nowhere'}", f"--output={out}"), "nowhere: no such file or folder"),
        ((f"--input={tmp_path / 'empty'}", f"--output={out}"), "empty: no slices"),
        ((f"--output={out}",), "give --input=<slice or folder>, or both --high_dir and --low_dir"),
        ((f"--input={path}", f"--high_dir={tmp_path}", f"--output={out}"), "give --input="),
        ((f"--high_dir={tmp_path}", f"--output={out}"), "give --input="),
        ((f"--input={path}", f"--output={out}", "--workers=0"), "error: flag --workers=0"),
        ((f"--input={path}",), "error: flag --output=None"),
    ]
    (tmp_path / "empty").mkdir()
    for args, message in cases:
        result = _run(*args)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, lines)
    assert not out.exists()  # nothing written


def test_command_exits_1_when_every_slice_fails(tmp_path):
    for name in ("a.png", "b.png"):
        coretf_io.write_image(tmp_path / "in" / name, np.zeros((32, 32), np.uint8))
    result = _run(f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'out'}")
    assert result.returncode == 1
    assert "labelled 0 slices" in result.stdout and "skipped 2 bad slices" in result.stdout


def test_paired_stacks_with_fov_none_and_a_given_circle(stack):
    for fov, source in (("none", "image"), ("64,64,50", "given")):
        out = stack / f"out_{source}"
        result = _run(f"--high_dir={stack / 'high'}", f"--low_dir={stack / 'low'}",
                      f"--output={out}", f"--fov={fov}")
        assert result.returncode == 0, result.stderr[-2000:]
        rows = _rows(out)
        assert len(rows) == 4 and {r["fov_source"] for r in rows} == {source}
        mask = coretf_io.read_image(out / "fov" / "l0.png") > 0
        if source == "image":
            assert mask.all()
        else:  # the high-res circle at half the scale
            assert float(rows[0]["fov_r"]) == 25.0
            assert mask.sum() == pytest.approx(np.pi * 25**2, rel=0.02)


def test_command_reads_palette_slices_as_grey(tmp_path, specimens):
    image_module = pytest.importorskip("PIL.Image")
    grey = specimens[2].high_slice(0)
    palette = image_module.fromarray(grey).convert("P", palette=image_module.Palette.ADAPTIVE,
                                                   colors=256)
    palette.save(tmp_path / "p.png")
    result = _run(f"--input={tmp_path / 'p.png'}", f"--output={tmp_path / 'out'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{tmp_path / 'p.png'}: read as grey" in result.stderr


@pytest.mark.skipif(not SNOWEX.is_file(), reason="../shared/realdata is absent")
def test_command_on_the_real_snowex_slice(tmp_path):
    result = _run(f"--input={SNOWEX}", f"--output={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{SNOWEX}: read as grey" in result.stderr
    assert f"{SNOWEX}: the ring search found a 47.5 px circle" in result.stderr
    record = json.loads((tmp_path / "slices" / f"{SNOWEX.stem}.json").read_text())
    assert record["fov_source"] == "data disc" and record["fov_r"] == pytest.approx(267.5, abs=2)
    assert record["gmm_ice_fraction"] == pytest.approx(0.285, abs=0.01)
    truth = coretf_io.to_grey(coretf_io.read_image(SNOWEX), "truth") > 0
    gmm = coretf_io.read_image(tmp_path / "gmm" / f"{SNOWEX.stem}.png") > 0
    assert (gmm & truth).sum() / (gmm | truth).sum() >= 0.98
