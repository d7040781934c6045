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


@pytest.mark.parametrize("shape", [(70, 150), (64, 64), (20, 45), (129, 64), (1, 300)])
def test_identity_model_returns_the_image_exactly(shape):
    image = np.random.default_rng(0).random((*shape, 3), dtype=np.float32)
    out = tiling.predict_tiled(lambda batch: batch, image, tile=32, overlap=8, batch_size=3)
    assert out.shape == image.shape
    np.testing.assert_allclose(out, image, rtol=1e-6, atol=1e-6)


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
