"""Mutated image files (bit flips, truncations, chunk deletions; a fixed seed, 200 per format):
every reader raises its own `ImageError` naming the file, or reads an image, and never hangs."""

import io
import time

import cv2
import numpy as np
import pytest
import tifffile

from coretf import image_source
from coretf import io as coretf_io

MUTANTS = 200


def _originals() -> dict[str, bytes]:
    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)

    def tiff(**kwargs):
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, image, **kwargs)
        return buffer.getvalue()

    return {".png": cv2.imencode(".png", image)[1].tobytes(), ".jpg": cv2.imencode(".jpg", image)[1].tobytes(),
            ".tif": tiff(), "_tiled.tif": tiff(tile=(16, 16)), "_deflate.tif": tiff(tile=(16, 16), compression="zlib")}


def _mutant(data: bytes, rng: np.random.Generator) -> bytes:
    data = bytearray(data)
    kind = rng.integers(3)
    if kind == 0:  # bit flips
        for _ in range(rng.integers(1, 8)):
            data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # truncation
        data = data[:rng.integers(1, len(data))]
    else:  # a chunk deleted
        start = rng.integers(len(data))
        del data[start:start + rng.integers(1, 64)]
    return bytes(data)


def _read_all(path):
    yield lambda: coretf_io.read_image(path)
    yield lambda: coretf_io.decode_image(path.read_bytes(), path.name)

    def regions():
        with image_source.open_image(path) as source:
            source.read(0, source.shape[0], 0, source.shape[1])

    yield regions


@pytest.mark.parametrize("suffix", sorted(_originals()))
def test_mutated_files_raise_only_the_readers_error(tmp_path, suffix):
    rng = np.random.default_rng(sum(map(ord, suffix)))
    original = _originals()[suffix]
    outcomes = {"read": 0, "refused": 0}
    for index in range(MUTANTS):
        path = tmp_path / f"m{index:03d}{suffix}"
        path.write_bytes(_mutant(original, rng))
        for read in _read_all(path):
            started = time.perf_counter()
            try:
                read()
                outcomes["read"] += 1
            except coretf_io.ImageError as error:
                assert path.name in str(error)
                outcomes["refused"] += 1
            assert time.perf_counter() - started < 3.0, path
    assert outcomes["refused"] > MUTANTS // 4, outcomes  # the mutations do break files
