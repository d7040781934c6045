"""Random access to regions of an image file, so that a long section is read band by band.

`open_image` returns a `TiledTiffSource` for tiled TIFF/BigTIFF files (only the tiles a region
touches are decoded) and an `ArraySource` over the decoded image (`coretf.io.read_image`)
otherwise. Errors are `coretf.io.ImageError`s naming the file. `View` sees a source transposed
(a core whose depth runs down the height, seen with depth along x) or with its first channels
only (an RGBA photograph as RGB); `iter_bands` walks a source in bands of lines along one axis;
`AreaReducer` shrinks an image handed over band by band exactly as `cv2.resize(INTER_AREA)`
shrinks it whole, so a long section's working copies and thumbnails need no image-sized buffer.
"""

from __future__ import annotations

import abc
import math
import os
import sys
from collections.abc import Iterator

import cv2
import numpy as np
import tifffile

from coretf.io import ImageError, check_declared_size, check_image, declared_shape, read_image


class ImageSource(abc.ABC):
    """Random access to an image's regions: `shape` (H, W), `channels`, `dtype`, `read(r0, r1, c0, c1)`.

    `open_image` returns a `TiledTiffSource` for tiled TIFF/BigTIFF files, which decodes only the
    tiles a region touches (memory stays flat however long the section), and an `ArraySource`
    over the decoded image otherwise. Use as a context manager.
    """

    shape: tuple[int, int]
    channels: int
    dtype: np.dtype
    name: str

    @abc.abstractmethod
    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """The (r1 - r0, c1 - c0, channels) region, in the file's dtype."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ArraySource(ImageSource):
    """An image held in memory, (H, W) or (H, W, C)."""

    def __init__(self, image: np.ndarray, name: str = "<array>"):
        self.image = image if image.ndim == 3 else image[..., None]
        self.shape = self.image.shape[:2]
        self.channels = self.image.shape[2]
        self.dtype = self.image.dtype
        self.name = name

    def read(self, r0, r1, c0, c1):
        return self.image[r0:r1, c0:c1]


class View(ImageSource):
    """A source seen with its axes swapped (`transpose`) and/or its first `channels` only.

    Reads are the source's regions (transposed views); closing a view leaves the source open.
    """

    def __init__(self, source: ImageSource, *, transpose: bool = False, channels: int | None = None):
        self.source, self.transpose = source, transpose
        self.shape = (source.shape[1], source.shape[0]) if transpose else tuple(source.shape)
        self.channels = min(channels or source.channels, source.channels)
        self.dtype, self.name = source.dtype, source.name

    def read(self, r0, r1, c0, c1):
        if self.transpose:
            region = self.source.read(c0, c1, r0, r1).swapaxes(0, 1)
        else:
            region = self.source.read(r0, r1, c0, c1)
        return region[..., :self.channels] if self.channels < region.shape[-1] else region


class TiledTiffSource(ImageSource):
    """A tiled (Big)TIFF read tile by tile, keeping the most recently used tiles decoded (at most
    `cache_tiles` of them and `cache_bytes` in all: a tile spanning a whole crop is large)."""

    def __init__(self, path: str, cache_tiles: int = 256, cache_bytes: int = 64 << 20):
        self.name = path
        self._tiff = tifffile.TiffFile(path)
        try:
            self._open_page()
        except Exception as error:  # a corrupt header: the file named, never an IndexError
            self._tiff.close()
            if isinstance(error, ImageError):
                raise
            raise ImageError(f"{path}: cannot be decoded ({type(error).__name__}: {error})") from error
        self._cache: dict[int, np.ndarray] = {}
        tile_bytes = self._tile[0] * self._tile[1] * self.channels * self.dtype.itemsize
        self._cache_tiles = max(1, min(cache_tiles, cache_bytes // tile_bytes))

    def _open_page(self) -> None:
        page = self._tiff.pages[0]
        planes = 3 if page.samplesperpixel > 1 else 2  # (tile rows, tile columns[, 1])
        if (planes == 3 and page.planarconfig != 1) or len(page.chunked) != planes \
                or len(page.shape) != planes:
            raise ImageError(f"{self.name}: tiled TIFF with separate colour planes or depth is not supported")
        if min(page.shape[:2]) < 1 or min(page.tilelength, page.tilewidth) < 1:
            raise ImageError(f"{self.name}: declares an empty image or tile ({page.shape}, tile "
                             f"{page.tilelength} x {page.tilewidth})")
        tiles = int(np.prod(page.chunked))
        if len(page.dataoffsets) < tiles or len(page.databytecounts) < tiles:
            raise ImageError(f"{self.name}: {len(page.dataoffsets)} tile offsets for {tiles} tiles "
                             "(truncated or corrupt header)")
        self._page = page
        self.shape = page.shape[:2]
        self.channels = page.shape[2] if len(page.shape) == 3 else 1
        self.dtype = np.dtype(page.dtype)
        check_image(np.zeros((1, 1, self.channels) if self.channels > 1 else (1, 1), self.dtype), self.name)
        self._tile = (page.tilelength, page.tilewidth)

    def _decode(self, index: int) -> np.ndarray:
        tile = self._cache.pop(index, None)
        if tile is None:
            try:
                handle = self._tiff.filehandle
                handle.seek(self._page.dataoffsets[index])
                data = handle.read(self._page.databytecounts[index])
                tile = self._page.decode(data, index, jpegtables=self._page.jpegtables)[0]
                tile = tile.reshape(self._tile + (self.channels,))
            except Exception as error:  # tifffile raises many types for corrupt tiles
                raise ImageError(f"{self.name}: tile {index} cannot be decoded "
                                 f"({type(error).__name__}: {error})") from error
            if tile.dtype.kind == "f" and not np.all(np.isfinite(tile)):
                raise ImageError(f"{self.name}: float image contains NaN or Inf values")
            if len(self._cache) >= self._cache_tiles:
                self._cache.pop(next(iter(self._cache)))
        self._cache[index] = tile  # most recently used last
        return tile

    def read(self, r0, r1, c0, c1):
        th, tw = self._tile
        across = self._page.chunked[1]
        out = np.empty((r1 - r0, c1 - c0, self.channels), self.dtype)
        for ty in range(r0 // th, (r1 - 1) // th + 1):
            for tx in range(c0 // tw, (c1 - 1) // tw + 1):
                tile = self._decode(ty * across + tx)
                y0, x0 = max(r0, ty * th), max(c0, tx * tw)
                y1, x1 = min(r1, (ty + 1) * th), min(c1, (tx + 1) * tw)
                out[y0 - r0:y1 - r0, x0 - c0:x1 - c0] = tile[y0 - ty * th:y1 - ty * th,
                                                             x0 - tx * tw:x1 - tx * tw]
        return out

    def close(self):
        self._tiff.close()


def open_image(path: str | os.PathLike) -> ImageSource:
    """An `ImageSource` for an image file: tile by tile for tiled TIFFs, decoded whole otherwise
    (`read_image`, which refuses a missing file and checks the declared size itself)."""
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() in (".tif", ".tiff") and os.path.isfile(path):
        try:
            with tifffile.TiffFile(path) as tiff:
                tiled = tiff.pages[0].is_tiled
        except Exception as error:
            raise ImageError(f"{path}: cannot be decoded ({type(error).__name__}: {error})") from error
        if tiled:
            check_declared_size(declared_shape(None, path, path), path)
            return TiledTiffSource(path)
    return ArraySource(read_image(path), path)


def iter_bands(source: ImageSource, lines: int, axis: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Consecutive bands of at most `lines` lines along `axis`.

    Args:
        source: the image.
        lines: band thickness, in lines.
        axis: 0 for bands of rows (each (n, W, C)), 1 for bands of columns (each (H, n, C)).

    Yields:
        (first line, band): the bands in order, together covering the image once.
    """
    if lines < 1:
        raise ValueError(f"lines must be >= 1, got {lines}")
    height, width = source.shape
    stop = source.shape[axis]
    for first in range(0, stop, lines):
        last = min(stop, first + lines)
        yield first, source.read(first, last, 0, width) if axis == 0 else source.read(0, height, first, last)


def long_axis(source: ImageSource) -> int:
    """The array axis (0: rows, 1: columns) along which an image is longer (columns if square):
    bands along it hold the image's whole width, so their size does not grow with its length."""
    return 1 if source.shape[1] >= source.shape[0] else 0


def _area_table(n: int, m: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's INTER_AREA terms from n source to m output pixels (`computeResizeAreaTab` in
    imgproc/resize.cpp): (m, T) source indices and float32 weights, each output's terms in
    OpenCV's order and padded with zero weights on its last source pixel."""
    terms = []
    for d in range(m):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, n - f1)
        s1, s2 = math.ceil(f1), math.floor(f2)
        s2 = min(s2, n - 1)
        s1 = min(s1, s2)
        row = [(s1 - 1, (s1 - f1) / cell)] if s1 - f1 > 1e-3 else []
        row += [(s, 1.0 / cell) for s in range(s1, s2)]
        if f2 - s2 > 1e-3:
            row.append((s2, min(f2 - s2, 1.0, cell) / cell))
        terms.append(row)
    width = max(len(row) for row in terms)
    index = np.array([[s for s, _ in row] + [row[-1][0]] * (width - len(row)) for row in terms], np.int64)
    weight = np.array([[w for _, w in row] + [0.0] * (width - len(row)) for row in terms]).astype(np.float32)
    return index, weight


class AreaReducer:
    """`cv2.resize(image, size, fx=fx, fy=fy, interpolation=cv2.INTER_AREA)` of a uint8 image
    handed over band by band along `axis`, bit for bit, for shrinking (both scales <= 1).

    OpenCV sums each output pixel's source pixels in float32 in a fixed order, rows after
    columns, or (both scale factors whole numbers) in integers; the same sums are done here on
    the bands in hand, so the result does not depend on the band thickness. Memory: the output
    and about one band.

    Example:
        reducer = AreaReducer(source.shape, fx=0.1, fy=0.1, axis=1)
        for _, band in iter_bands(source, 512, axis=1):
            reducer.add(band)
        small = reducer.result()
    """

    def __init__(self, shape: tuple[int, int], size: tuple[int, int] | None = None, *,
                 fx: float = 0.0, fy: float = 0.0, axis: int = 0):
        height, width = shape
        if size is None:  # as cv::resize: the size rounded, the factors as given
            size, inverse = (int(np.rint(width * fx)), int(np.rint(height * fy))), (fx, fy)
        else:
            inverse = (size[0] / width, size[1] / height)
        if min(size) < 1 or inverse[0] > 1 or inverse[1] > 1:
            raise ValueError(f"AreaReducer only shrinks: {width} x {height} px to {size[0]} x {size[1]} px")
        self.shape, self.size, self.axis = (height, width), (int(size[0]), int(size[1])), axis
        scales = (1.0 / inverse[0], 1.0 / inverse[1])
        self.copy = self.size == (width, height)
        self.fast = all(abs(s - round(s)) < sys.float_info.epsilon for s in scales)
        if self.fast:  # cv2's "area fast" path: whole blocks of k x k pixels
            self.factors = tuple(round(s) for s in scales)
            starts = [np.arange(m) * k for m, k in zip(self.size, self.factors)]
            self.spans = [(s, np.minimum(s + k, n)) for s, k, n in zip(starts, self.factors, (width, height))]
        else:
            self.tables = [_area_table(n, m, s) for n, m, s in zip((width, height), self.size, scales)]
            self.spans = [(index[:, 0], index.max(1) + 1) for index, _ in self.tables]
        # spans[0] along x, spans[1] along y: each output pixel's source pixels [first, end)
        self._first, self._end = self.spans[1 - axis]
        self._pending, self._offset, self._done, self._pieces = None, 0, 0, []

    def add(self, band: np.ndarray) -> None:
        """The next band along `axis` (uint8 (rows, W, C) for axis 0, (H, cols, C) for axis 1)."""
        if band.dtype != np.uint8:
            raise ValueError(f"AreaReducer: expected uint8 bands, got {band.dtype}")
        band = band if band.ndim == 3 else band[..., None]
        if self.copy:  # cv2 copies an image resized to its own size
            self._pieces.append(band)
            self._offset += band.shape[self.axis]
            return
        pending = band if self._pending is None else np.concatenate([self._pending, band], self.axis)
        available = self._offset + pending.shape[self.axis]
        ready = int(np.searchsorted(self._end, available, side="right"))
        if ready > self._done:
            self._pieces.append(self._reduce(pending, self._done, ready))
            self._done = ready
        keep = int(self._first[ready]) if ready < len(self._first) else available
        self._pending = np.take(pending, np.arange(keep - self._offset, pending.shape[self.axis]), self.axis)
        self._offset = keep

    def result(self) -> np.ndarray:
        """The (h, w, C) uint8 reduced image (every band must have been added)."""
        done = self._offset if self.copy else self._done
        expected = self.shape[self.axis] if self.copy else len(self._first)
        if done < expected:
            raise ValueError(f"AreaReducer: the bands cover {done} of {expected} lines")
        return np.concatenate(self._pieces, self.axis)

    def _reduce(self, region: np.ndarray, d0: int, d1: int) -> np.ndarray:
        """Output lines [d0, d1) along the axis, from `region` (source lines from _offset on)."""
        along = [slice(None), slice(None)]  # x, y: the output pixels computed here
        along[1 - self.axis] = slice(d0, d1)
        offsets = [0, 0]
        offsets[1 - self.axis] = self._offset
        if self.fast:
            return self._reduce_blocks(region, along, offsets)
        (xs, xw), (ys, yw) = [(index[a] - o, weight[a]) for (index, weight), a, o in
                              zip(self.tables, along, offsets)]
        rows = np.zeros((region.shape[0], len(xs), region.shape[2]), np.float32)
        for t in range(xs.shape[1]):  # buf[dx] += S[sx] * alpha, in OpenCV's order
            rows = rows + region[:, xs[:, t]] * xw[:, t][None, :, None]
        out = yw[:, 0][:, None, None] * rows[ys[:, 0]]
        for t in range(1, ys.shape[1]):  # sum += beta * buf
            out = out + yw[:, t][:, None, None] * rows[ys[:, t]]
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def _reduce_blocks(self, region: np.ndarray, along: list, offsets: list) -> np.ndarray:
        (x0, x1), (y0, y1) = [(first[a] - o, end[a] - o) for (first, end), a, o in
                              zip(self.spans, along, offsets)]
        sums = np.add.reduceat(region[:y1[-1], :x1[-1]].astype(np.int32), y0, axis=0)
        sums = np.add.reduceat(sums, x0, axis=1)
        count = ((y1 - y0)[:, None] * (x1 - x0)[None, :])[..., None]
        area = self.factors[0] * self.factors[1]
        if self.factors == (2, 2):  # OpenCV's vector code for 2 x 2 blocks rounds ties up
            whole = (sums + 2) >> 2
        else:
            whole = np.rint(sums.astype(np.float32) * (np.float32(1) / np.float32(area)))
        part = np.rint(sums.astype(np.float32) / count.astype(np.float32))
        return np.clip(np.where(count == area, whole, part), 0, 255).astype(np.uint8)


def whole_blocks(shape: tuple[int, int], size: int) -> tuple[int, int]:
    """The (height, width) of an image of `shape` that `downsampled` reads: whole blocks of the
    reduction factor that brings the longer side to at most `size`."""
    factor = max(1, math.ceil(max(shape) / size))
    return tuple(min(n, max(factor, n - n % factor)) for n in shape)


def downsampled(source: ImageSource, size: int, convert=None) -> np.ndarray:
    """The image at most `size` px long (area averaging), read in chunks along its longer axis so
    that no image-sized buffer is needed; `convert` maps each raw (h, w, C) region first (e.g.
    to uint8 RGB). Returns (h, w, C') in `convert`'s dtype (the source's without one)."""
    factor = max(1, math.ceil(max(source.shape) / size))
    height, width = whole_blocks(source.shape, size)
    out_h, out_w = max(1, height // factor), max(1, width // factor)
    along_rows = height >= width
    step = factor * max(1, 512 // factor)
    chunks = []
    for start in range(0, height if along_rows else width, step):
        stop = min(start + step, height if along_rows else width)
        region = source.read(start, stop, 0, width) if along_rows else source.read(0, height, start, stop)
        region = convert(region) if convert else region
        size_out = (out_w, max(1, (stop - start) // factor)) if along_rows else (max(1, (stop - start) // factor), out_h)
        chunks.append(cv2.resize(region, size_out, interpolation=cv2.INTER_AREA).reshape(
            size_out[1], size_out[0], region.shape[-1]))
    return np.concatenate(chunks, axis=0 if along_rows else 1)
