"""Tiled inference over images of any size, with overlapping tiles blended into one probability map.

Hutton (2025, §5.1.3) names the faults of tiling a section naively: edge tiles dropped, seams
where tiles meet, and no context at the borders. Here every pixel is covered: tiles are spaced
evenly with at least `overlap` pixels in common and the last one ends at the border (none is
dropped); an image smaller than a tile is mirror-padded; and overlapping predictions are averaged
with weights that fall off toward the tile edges (`blend_window`), divided by the weights' sum, so
no tile edge shows in the result. A window only blends where tiles overlap: with `overlap=0` each
pixel comes from one tile and a network's border effects (it sees zero padding there instead of
the image) show as seams.

Two windows. "linear" (the default), 1 in the middle and falling to ~0 over `overlap` px: it hands
one tile over to the next across the whole overlap. "gaussian", nnU-Net's importance map
(Isensee et al. 2021: a Gaussian centred on the tile, sigma = tile / 8, whatever the overlap),
gives border pixels almost no say wherever another tile sees them nearer its centre, so it stays
closest to a one-pass prediction, but its hand-over is ~sigma^2 / stride px wide, nearly a step
in small tiles. On coretf's rock U-Nets both remove the seams from a quarter-tile overlap on, and
the linear ramp, which averages more tiles, scored a little better IoU and log loss
(`scripts/benchmark_tile_seams.py`, which `seam_strength` serves).

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
WINDOWS = ("linear", "gaussian")


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


def blend_window(tile: int, overlap: int, kind: str = "linear") -> np.ndarray:
    """(tile, tile) float32 blending weights, 1 at the centre and > 0 everywhere.

    Args:
        kind: "linear": 1 in the middle, falling linearly to ~0 over `overlap` px (1 / (2 overlap)
            at the edge); "gaussian": exp(-d^2 / (2 sigma^2)) per axis with sigma = tile / 8,
            whatever the overlap: at least exp(-8) = 3e-4 at the middle of an edge and exp(-16) =
            1e-7 at a corner, so no weight underflows float32 (nnU-Net floors its map at its least
            non-zero value; here there is no zero to floor).
    """
    if kind == "linear":
        ramp = np.minimum(1.0, (np.arange(tile) + 0.5) / max(overlap, 1))
        ramp = np.minimum(ramp, ramp[::-1])
    elif kind == "gaussian":
        ramp = np.exp(-0.5 * ((np.arange(tile) + 0.5 - tile / 2) / (tile / 8)) ** 2)
    else:
        raise ValueError(f"tiling: blend window must be one of {', '.join(WINDOWS)}, got {kind!r}")
    ramp /= ramp.max()  # a tile narrower than two overlaps never reaches 1; blending ignores scale
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
    blend: str = "linear",
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
        blend: the blending window, "linear" or "gaussian" (`blend_window`).
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
    window = blend_window(tile, overlap, blend)[..., None]
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
                  blend: str = "linear", batch_size: int = 4, progress: bool = False) -> np.ndarray:
    """Blended tiled prediction of an in-memory image.

    Args:
        predict: maps a (B, tile, tile, C) float32 batch to (B, tile, tile, K) probabilities.
        image: (H, W, C) or (H, W) array of any size (smaller than a tile too: mirror-padded).
        tile, overlap, blend, batch_size, progress: as in `iter_bands`.

    Returns:
        (H, W, K) float32 probabilities.
    """
    if image.ndim == 2:
        image = image[..., None]
    height, width = image.shape[:2]
    out = None
    for first, band in iter_bands(predict, lambda r0, r1, c0, c1: image[r0:r1, c0:c1],
                                  (height, width), tile=tile, overlap=overlap,
                                  blend=blend, batch_size=batch_size, progress=progress):
        if out is None:
            out = np.empty((height, width, band.shape[-1]), np.float32)
        out[first:first + len(band)] = band
    return out


def seam_boundaries(length: int, tile: int, overlap: int) -> np.ndarray:
    """Pixel boundaries where tiles hand over along one axis: boundary b lies between pixels b - 1
    and b. For each pair of neighbouring tiles: where the later one starts, where the earlier one
    ends and the middle of their overlap (where the windows cross, so where a step would remain);
    with no overlap the three coincide. Empty for a single tile."""
    starts = tile_starts(length, tile, overlap)
    boundaries = set()
    for before, after in zip(starts[:-1], starts[1:]):
        middle = (after + before + tile) / 2
        boundaries.update({int(after), int(before + tile), int(np.floor(middle)), int(np.ceil(middle))})
    return np.array(sorted(b for b in boundaries if 0 < b < length), dtype=np.int64)


def seam_strength(maps: np.ndarray, *, tile: int, overlap: int, statistic: Callable = np.mean) -> float:
    """How much more a tiled map jumps across its tile borders than elsewhere: 1 = no seam.

    Each boundary between neighbouring rows (columns) gets the mean |difference| of the two
    along its length (over every map), so content averages out and a seam, which runs the whole
    length, stands out; the result is `statistic` of the tile borders' values (`seam_boundaries`)
    over `statistic` of the other boundaries' values, both axes pooled. With np.max: the worst
    border over the worst jump elsewhere.

    Args:
        maps: (H, W) or (N, H, W) float maps (e.g. probabilities of a class) tiled alike.
        tile, overlap: as given to `predict_tiled`.
    """
    maps = np.asarray(maps, np.float64).reshape((-1,) + np.shape(maps)[-2:])
    borders, others = [], []
    for axis in (1, 2):
        jumps = np.abs(np.diff(maps, axis=axis)).mean(axis=(0, 3 - axis))  # index b - 1: boundary b
        seams = np.zeros(len(jumps), bool)
        seams[seam_boundaries(maps.shape[axis], tile, overlap) - 1] = True
        borders.append(jumps[seams])
        others.append(jumps[~seams])
    borders, others = np.concatenate(borders), np.concatenate(others)
    if not len(borders) or not len(others):
        raise ValueError(f"tiling: a {maps.shape[1]} x {maps.shape[2]} map in {tile} px tiles has "
                         "no tile border or nothing but tile borders")
    return float(statistic(borders) / statistic(others))
