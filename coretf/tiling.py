"""Tiled inference over images of any size, with overlapping tiles blended into one probability map.

Hutton (2025, §5.1.3) names the faults of tiling a section naively: edge tiles dropped, seams
where tiles meet, and no context at the borders. Here every pixel is covered: tiles are spaced
evenly with at least `overlap` pixels in common and the last one ends at the border (none is
dropped); an image smaller than a tile is mirror-padded; and overlapping predictions are averaged
with weights that fall off linearly over the overlap, so no tile edge shows in the result.

`iter_bands` is the streaming core: it walks the tiles in order along one axis and yields each
band of rows as soon as no later tile touches it, so its memory is one band of `tile` rows,
whatever the image's length. `predict_tiled` is the in-memory convenience for arrays.

Example:
    probabilities = predict_tiled(lambda batch: model(batch, training=False).numpy(),
                                  image, tile=256, overlap=32)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

Predict = Callable[[np.ndarray], np.ndarray]
ReadRegion = Callable[[int, int, int, int], np.ndarray]


def tile_starts(length: int, tile: int, overlap: int) -> np.ndarray:
    """Start offsets of tiles covering [0, length): evenly spaced, overlapping by >= `overlap`.

    The first tile starts at 0 and the last ends at `length`; when `length <= tile` there is one
    tile at 0 (the caller pads the image to the tile).
    """
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"tiling: need tile >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    if length <= tile:
        return np.zeros(1, dtype=np.int64)
    count = -(-(length - tile) // (tile - overlap)) + 1
    return np.round(np.linspace(0, length - tile, count)).astype(np.int64)


def blend_window(tile: int, overlap: int) -> np.ndarray:
    """(tile, tile) float32 weights: 1 in the middle, falling linearly to ~0 over `overlap` px."""
    ramp = np.minimum(1.0, (np.arange(tile) + 0.5) / max(overlap, 1))
    ramp = np.minimum(ramp, ramp[::-1])
    return np.outer(ramp, ramp).astype(np.float32)


def _read_padded(read_region: ReadRegion, r0: int, r1: int, c0: int, c1: int,
                 height: int, width: int) -> np.ndarray:
    """read_region over [r0, r1) x [c0, c1), mirror-padded where it extends past the image."""
    region = read_region(r0, min(r1, height), c0, min(c1, width))
    pad_rows, pad_cols = r1 - min(r1, height), c1 - min(c1, width)
    if pad_rows or pad_cols:
        region = np.pad(region, [(0, pad_rows), (0, pad_cols)] + [(0, 0)] * (region.ndim - 2),
                        mode="symmetric")
    return region


def iter_bands(
    predict: Predict,
    read_region: ReadRegion,
    shape: tuple[int, int],
    *,
    tile: int,
    overlap: int = 32,
    batch_size: int = 4,
    progress: bool = False,
    description: str = "tiles",
) -> Iterator[tuple[int, np.ndarray]]:
    """Streams blended probabilities over an image, band by band along axis 0.

    Args:
        predict: maps a (B, tile, tile, C) float32 batch to (B, tile, tile, K) probabilities.
        read_region: read_region(r0, r1, c0, c1) returns the image's (r1 - r0, c1 - c0, C) float32
            region; it is only asked for regions inside the image.
        shape: (height, width) of the image.
        tile, overlap: tile side and least overlap, in pixels.
        batch_size: tiles per `predict` call.
        progress: show a progress bar over tiles.

    Yields:
        (first_row, band): consecutive bands of (rows, width, K) float32 probabilities; together
        they cover rows 0..height-1 exactly once, in order.
    """
    height, width = shape
    row_starts = tile_starts(height, tile, overlap)
    col_starts = tile_starts(width, tile, overlap)
    padded_width = max(width, tile)
    window = blend_window(tile, overlap)[..., None]
    accumulated = weights = None
    origin = 0  # image row of the accumulator's first row
    bar = tqdm(total=len(row_starts) * len(col_starts), desc=description, unit="tile",
               disable=not progress, leave=False)

    def finished_rows(count):
        rows = min(count, height - origin)
        return accumulated[:rows, :width] / weights[:rows, :width, None]

    for row in row_starts:
        if accumulated is not None and row > origin:  # rows above this tile row are final
            shift = int(row - origin)
            yield origin, finished_rows(shift)
            accumulated = np.concatenate([accumulated[shift:], np.zeros_like(accumulated[:shift])])
            weights = np.concatenate([weights[shift:], np.zeros_like(weights[:shift])])
            origin = int(row)
        for first in range(0, len(col_starts), batch_size):
            cols = col_starts[first:first + batch_size]
            batch = np.stack([_read_padded(read_region, row, row + tile, c, c + tile, height, width)
                              for c in cols]).astype(np.float32, copy=False)
            probabilities = np.asarray(predict(batch), dtype=np.float32)
            if probabilities.shape[:3] != batch.shape[:3]:
                raise ValueError(f"tiling: predict returned shape {probabilities.shape} for a batch of "
                                 f"shape {batch.shape}; expected (B, {tile}, {tile}, K)")
            if accumulated is None:
                accumulated = np.zeros((tile, padded_width, probabilities.shape[-1]), np.float32)
                weights = np.zeros((tile, padded_width), np.float32)
            for c, p in zip(cols, probabilities):
                accumulated[:, c:c + tile] += window * p
                weights[:, c:c + tile] += window[..., 0]
            bar.update(len(cols))
    bar.close()
    yield origin, finished_rows(tile)


def predict_tiled(predict: Predict, image: np.ndarray, *, tile: int, overlap: int = 32,
                  batch_size: int = 4, progress: bool = False) -> np.ndarray:
    """Blended tiled prediction of an in-memory image.

    Args:
        predict: maps a (B, tile, tile, C) float32 batch to (B, tile, tile, K) probabilities.
        image: (H, W, C) or (H, W) array of any size (smaller than a tile too: mirror-padded).

    Returns:
        (H, W, K) float32 probabilities.
    """
    if image.ndim == 2:
        image = image[..., None]
    height, width = image.shape[:2]
    out = None
    for first, band in iter_bands(predict, lambda r0, r1, c0, c1: image[r0:r1, c0:c1],
                                  (height, width), tile=tile, overlap=overlap,
                                  batch_size=batch_size, progress=progress):
        if out is None:
            out = np.empty((height, width, band.shape[-1]), np.float32)
        out[first:first + len(band)] = band
    return out
