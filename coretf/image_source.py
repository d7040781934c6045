"""Random access to regions of an image file, so that a long section is read band by band.

`open_image` returns a `TiledTiffSource` for tiled TIFF/BigTIFF files (only the tiles a region
touches are decoded) and an `ArraySource` over the decoded image (`coretf.io.read_image`)
otherwise. Errors are `coretf.io.ImageError`s naming the file.
"""

from __future__ import annotations

import abc
import os

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


class TiledTiffSource(ImageSource):
    """A tiled (Big)TIFF read tile by tile, keeping the most recently used tiles decoded."""

    def __init__(self, path: str, cache_tiles: int = 256):
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
        self._cache_tiles = cache_tiles

    def _open_page(self) -> None:
        page = self._tiff.pages[0]
        if page.planarconfig != 1 or len(page.chunked) != 3:
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
