"""Where a prediction is unsure, as people look at it: the per-pixel uncertainty map predict writes
beside the confidence map (`<name>_uncertainty.tif`) and its picture (`<name>_uncertainty.png`).

The uncertainty of a pixel is the predictive entropy of its class probabilities divided by ln C
(C classes): 0 where the model is sure, 1 where every class is as likely. The probabilities are
those predict blends, so for an ensemble export (the members' mean) or with `--tta` (the views'
mean) the entropy also grows where members or views disagree. The map streams like the
confidence map: its tiles are spooled to an unnamed temporary file as they are computed and
written to the TIFF afterwards, so memory does not grow with the image.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import cv2
import numpy as np
import tifffile

from coretf import image_source
from coretf import io as coretf_io
from coretf import plots


def normalised_entropy(probabilities: np.ndarray) -> np.ndarray:
    """(..., C) probabilities -> (...) float32 entropy / ln C in [0, 1]."""
    p = np.clip(np.asarray(probabilities, np.float32), 1e-12, 1.0)
    classes = p.shape[-1]
    return np.clip(-(p * np.log(p)).sum(-1) / np.float32(np.log(classes)), 0.0, 1.0).astype(np.float32)


class TileSpool:
    """Equal-sized float32 tiles kept on disk in the order they come (`add`) and read back in that
    order (`tiles`); the file has no name and goes when the spool closes."""

    def __init__(self, directory: str, shape: tuple[int, int]):
        self._file = tempfile.TemporaryFile(dir=directory)
        self._shape = shape

    def add(self, tile: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(tile, np.float32).tobytes())

    def tiles(self) -> Iterator[np.ndarray]:
        self._file.seek(0)
        size = self._shape[0] * self._shape[1] * 4
        while chunk := self._file.read(size):
            yield np.frombuffer(chunk, np.float32).reshape(self._shape)

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_map(path: str, tiles: Iterator[np.ndarray], shape: tuple[int, int], tile: tuple[int, int]) -> None:
    """A float32 tiled BigTIFF of `shape` from its tiles in file order, atomically."""
    with coretf_io.atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data=tiles, shape=shape, dtype=np.float32, tile=tile, compression="zlib",
                         bigtiff=True)


def save_picture(path: str, map_path: str, size: int, title: str) -> None:
    """`<name>_uncertainty.png`: the map at most `size` px long (read tile by tile), 0 black to 1
    bright (magma), under a legend."""
    with image_source.TiledTiffSource(map_path, cache_tiles=4) as source:  # read along once: no cache needed
        small = image_source.downsampled(source, size)[..., 0]
    coloured = cv2.applyColorMap(np.clip(small * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_MAGMA)[..., ::-1]
    coretf_io.write_image(path, plots.with_legend(np.ascontiguousarray(coloured), [
        ((0, 0, 4), "sure (entropy 0)"), ((252, 253, 191), "every class as likely (entropy 1)")], title=title))
