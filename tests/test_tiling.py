"""Tiled inference: every pixel covered exactly, no tile dropped, bands streamed in order."""

import numpy as np
import pytest

from coretf import tiling


@pytest.mark.parametrize("length,tile,overlap", [(1000, 256, 32), (256, 256, 32), (257, 256, 0),
                                                 (100, 256, 32), (5000, 128, 64)])
def test_tile_starts_cover_the_length_with_the_overlap(length, tile, overlap):
    starts = tiling.tile_starts(length, tile, overlap)
    assert starts[0] == 0
    assert starts[-1] == max(length - tile, 0)
    if len(starts) > 1:
        assert np.all(np.diff(starts) <= tile - overlap)  # overlap at least `overlap`
        assert np.all(np.diff(starts) > 0)


def test_tile_starts_rejects_overlap_of_a_whole_tile():
    with pytest.raises(ValueError, match="overlap"):
        tiling.tile_starts(100, 32, 32)


def _smooth_image(shape):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (0.5 + 0.25 * np.sin(yy / 9.0) * np.cos(xx / 13.0))[..., None].astype(np.float32)


def _border_jump_error(out, expected, tile, overlap):
    """Largest difference between the jumps of `out` and of `expected` across the tile borders."""
    errors = [0.0]
    for axis in (0, 1):
        b = tiling.seam_boundaries(out.shape[axis], tile, overlap)
        jump = np.take(out, b, axis) - np.take(out, b - 1, axis)
        errors.append(np.abs(jump - (np.take(expected, b, axis) - np.take(expected, b - 1, axis))).max(initial=0))
    return max(errors)


@pytest.mark.parametrize("blend", tiling.WINDOWS)
@pytest.mark.parametrize("overlap", [0, 5, 8])
@pytest.mark.parametrize("shape", [(70, 150), (64, 64), (33, 47), (20, 45), (17, 19), (129, 64), (1, 300)])
def test_constant_and_identity_models_come_out_exactly_without_seams(shape, overlap, blend):
    # Weights divided by their sum everywhere (image borders and corners too, images smaller
    # than a tile too): a constant stays constant and the image itself comes back, so nothing
    # jumps across a tile border that the image does not jump itself.
    image = _smooth_image(shape)
    tolerance = 1e-6 * (image.max() - image.min())
    constant = np.array([0.3, 0.7], np.float32)
    out = tiling.predict_tiled(lambda batch: np.broadcast_to(constant, batch.shape[:3] + (2,)), image,
                               tile=32, overlap=overlap, blend=blend, batch_size=3)
    assert out.shape == shape + (2,)
    assert np.abs(out - constant).max() < 1e-6
    assert _border_jump_error(out, np.broadcast_to(constant, out.shape), 32, overlap) < 1e-6
    out = tiling.predict_tiled(lambda batch: batch, image, tile=32, overlap=overlap, blend=blend, batch_size=3)
    assert out.shape == image.shape
    assert np.abs(out - image).max() <= tolerance
    assert _border_jump_error(out, image, 32, overlap) <= tolerance


@pytest.mark.parametrize("tile", [1, 2, 7, 32, 64, 512])
def test_blend_windows_peak_at_one_and_are_never_zero(tile):
    for kind in tiling.WINDOWS:
        window = tiling.blend_window(tile, tile // 4, kind)
        assert window.shape == (tile, tile) and window.dtype == np.float32
        assert window.max() == pytest.approx(1.0) and window.min() > 1e-8
        np.testing.assert_array_equal(window, window.T)
        np.testing.assert_array_equal(window, window[::-1, ::-1])


def test_gaussian_window_is_nnunets_importance_map():
    # sigma = tile / 8 = 1 px; pixel centres 0.5..7.5 lie -3.5..3.5 from the centre; the peak
    # pixels (+-0.5) are 1 after normalisation, so the corner is exp(-(3.5^2 - 0.5^2)) = exp(-12).
    window = tiling.blend_window(8, 2, "gaussian")
    assert window[3, 3] == pytest.approx(1.0)
    assert window[0, 0] == pytest.approx(np.exp(-12.0), rel=1e-5)
    assert window[0, 3] == pytest.approx(np.exp(-6.0), rel=1e-5)
    assert window[1, 3] == pytest.approx(np.exp(-0.5 * (2.5**2 - 0.5**2)), rel=1e-5)
    # linear: 1 / (2 overlap) at the edge, 1 from `overlap` px in
    np.testing.assert_allclose(tiling.blend_window(8, 2)[3], [0.25, 0.75, 1, 1, 1, 1, 0.75, 0.25])


def test_an_unknown_blend_window_is_named():
    with pytest.raises(ValueError, match="linear, gaussian, got 'cosine'"):
        tiling.blend_window(32, 8, "cosine")


def test_seam_boundaries_are_tile_starts_ends_and_overlap_middles():
    np.testing.assert_array_equal(tiling.seam_boundaries(96, 32, 0), [32, 64])
    # tiles at 0, 23, 45, 68: starts, ends (32, 55, 77) and middles (27.5, 50, 72.5)
    np.testing.assert_array_equal(tiling.seam_boundaries(100, 32, 8), [23, 27, 28, 32, 45, 50, 55, 68, 72, 73, 77])
    assert len(tiling.seam_boundaries(32, 32, 8)) == 0 and len(tiling.seam_boundaries(20, 32, 8)) == 0


def test_seam_strength_of_a_step_at_a_tile_border():
    # A ramp rising 0.01 per px both ways, plus a 0.05 step at the tile border x = 32: across
    # the borders the mean jump is (0.01 + 0.06) / 2, elsewhere 0.01; the worst 0.06 over 0.01.
    yy, xx = np.mgrid[:64, :64]
    ramp = 0.01 * (yy + xx)
    stepped = ramp + 0.05 * (xx >= 32)
    assert tiling.seam_strength(stepped, tile=32, overlap=0) == pytest.approx(3.5)
    assert tiling.seam_strength(stepped[None], tile=32, overlap=0, statistic=np.max) == pytest.approx(6.0)
    assert tiling.seam_strength(ramp, tile=32, overlap=0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no tile border"):
        tiling.seam_strength(ramp, tile=64, overlap=0)


def _tile_bias(kind, tile):
    """(tile, tile) bias a tile-bound model adds: growing toward every edge (its zero padding) or
    toward the far edges (an off-centre receptive field)."""
    centres = np.arange(tile) + 0.5
    ramp = np.exp(-np.minimum(centres, tile - centres) / 2) if kind == "edge" else centres / tile
    return (ramp[:, None] + ramp[None, :]) / 2


@pytest.mark.parametrize("kind", ["edge", "slope"])
@pytest.mark.parametrize("shape", [(96, 96), (101, 75), (70, 150)])
def test_border_effects_leave_seams_at_no_overlap_and_none_at_the_default(shape, kind):
    # A model that is the identity plus a bias tied to the position in its tile, like a network's
    # border effects: with tiles side by side its jump shows at every tile border; with the
    # default quarter-tile overlap and linear ramp the hand-over is spread over the overlap.
    tile, image = 32, _smooth_image(shape)
    bias = _tile_bias(kind, tile)[None, ..., None]

    def largest_step(overlap):
        out = tiling.predict_tiled(lambda batch: batch + bias, image, tile=tile, overlap=overlap)
        inner = (out - image)[tile // 4:-(tile // 4), tile // 4:-(tile // 4), 0]  # the image's own
        return max(np.abs(np.diff(inner, axis=0)).max(), np.abs(np.diff(inner, axis=1)).max())  # borders aside

    assert largest_step(0) > 0.1
    assert largest_step(tile // 4) < 0.04


def test_every_tile_reaches_the_output():
    image = np.zeros((100, 130, 1), np.float32)
    calls = []

    def predict(batch):
        calls.append(len(batch))
        return np.ones(batch.shape[:3] + (2,), np.float32)

    out = tiling.predict_tiled(predict, image, tile=32, overlap=4, batch_size=2)
    rows, cols = len(tiling.tile_starts(100, 32, 4)), len(tiling.tile_starts(130, 32, 4))
    assert sum(calls) == rows * cols
    np.testing.assert_allclose(out, 1.0)


def test_blending_weights_tiles_near_their_edges_less():
    # Two tiles along x predict different constants; in their overlap the output moves
    # smoothly from one to the other instead of jumping at a seam.
    image = np.zeros((16, 24, 1), np.float32)
    image[:, :, 0] = np.arange(24)

    def predict(batch):
        first_col = batch[:, :1, :1, :1]  # which tile: its first column's x
        return np.broadcast_to(first_col, batch.shape[:3] + (1,)).copy()

    out = tiling.predict_tiled(predict, image, tile=16, overlap=8)[0, :, 0]
    assert out[0] == 0 and out[-1] == 8  # tiles start at x = 0 and x = 8
    assert np.all(np.diff(out) >= 0) and np.max(np.diff(out)) < 8 / 4


def test_bands_stream_in_order_and_stay_within_a_tile():
    height, width = 300, 40
    image = np.random.default_rng(1).random((height, width, 2), dtype=np.float32)
    seen = 0
    for first, band in tiling.iter_bands(lambda b: b, lambda r0, r1, c0, c1: image[r0:r1, c0:c1],
                                         (height, width), tile=32, overlap=8):
        assert first == seen
        assert 0 < len(band) <= 32
        np.testing.assert_allclose(band, image[first:first + len(band)], atol=1e-6)
        seen += len(band)
    assert seen == height


def test_a_wrong_predict_shape_is_reported():
    with pytest.raises(ValueError, match="predict returned shape"):
        tiling.predict_tiled(lambda b: b[:, ::2], np.zeros((40, 40, 3), np.float32), tile=32,
                              overlap=8)
