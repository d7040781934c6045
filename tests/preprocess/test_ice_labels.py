"""Weak labels and baselines: the histogram GMM against scikit-learn, field of view, stacks, command."""

import csv
import json
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
               f"--low_dir={stack / 'low'}", f"--output_dir={stack / 'out'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "labelled 2 low-res slices" in result.stdout
    assert "h5.png: all-black slice" in result.stdout
    assert "l3.png: 60x64 uint8 differs from the stack's first slice l0.png" in result.stdout
    weak = coretf_io.read_image(stack / "out" / "weak" / "l0.png")
    assert weak.shape == (64, 64) and set(np.unique(weak)) <= {0, 255}
    with open(stack / "out" / "thresholds.csv") as f:
        rows = list(csv.DictReader(f))
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
