"""Reading and writing the image files a lab brings, with errors that name the file.

Core photographs arrive as 8- or 16-bit TIFF (BigTIFF too), PNG or JPEG, RGB or RGBA (the alpha
channel then carries a GIMP-style label). Everything here returns arrays in RGB order (OpenCV
reads BGR; that slip is one of the faults of the public code) and never writes a partial file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator

import cv2
import numpy as np
import tifffile

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


class ImageError(ValueError):
    """An input image that cannot be used; the message names the file and the problem."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Reads an image file into an (H, W) or (H, W, C) array in RGB(A) order.

    Args:
        path: a TIFF/BigTIFF, PNG or JPEG file.

    Returns:
        uint8 or uint16 array, (H, W) for grayscale, (H, W, 3) RGB or (H, W, 4) RGBA.

    Raises:
        ImageError: the file is missing, corrupt or truncated, or has an unsupported bit depth,
            channel count or NaN values.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageError(f"{path}: no such file")
    if os.path.splitext(path)[1].lower() in (".tif", ".tiff"):
        # tifffile reads from the path so that (Big)TIFF files can be memory-mapped later on.
        try:
            return check_image(tifffile.imread(path), path)
        except Exception as error:  # tifffile raises many types for corrupt files
            if isinstance(error, ImageError):
                raise
            raise ImageError(f"{path}: cannot be decoded ({type(error).__name__}: {error})") from error
    with open(path, "rb") as f:
        return decode_image(f.read(), path)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decodes the bytes of an image file named `name` (its suffix picks the decoder).

    Args:
        data: the file's bytes (read through `tf.io.gfile`/`epath` by TFDS builders).
        name: the file name, used for the suffix and in error messages.

    Returns:
        As `read_image`.

    Raises:
        ImageError: as `read_image`.
    """
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageError(f"{name}: unsupported file type {suffix!r} (expected one of {IMAGE_SUFFIXES})")
    if not data:
        raise ImageError(f"{name}: empty file")
    try:
        if suffix in (".tif", ".tiff"):
            image = tifffile.imread(io.BytesIO(data))
        else:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            if image is not None and image.ndim == 3:
                code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
                image = cv2.cvtColor(image, code)
    except Exception as error:  # tifffile raises many types for corrupt files
        raise ImageError(f"{name}: cannot be decoded ({type(error).__name__}: {error})") from error
    if image is None:
        raise ImageError(f"{name}: cannot be decoded (corrupt or truncated file)")
    return check_image(image, name)


def check_image(image: np.ndarray, name: str) -> np.ndarray:
    """Validates dtype, channel count and finiteness of a decoded image; returns it unchanged."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"{name}: expected a grayscale, RGB or RGBA image, got shape {image.shape}")
    if image.dtype.kind == "f":
        if not np.all(np.isfinite(image)):
            raise ImageError(f"{name}: float image contains NaN or Inf values")
    elif image.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{name}: unsupported pixel type {image.dtype} (expected 8- or 16-bit)")
    return image


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Scales an 8-bit, 16-bit or [0, 1] float image to uint8 (16-bit: rounded v / 257)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def to_float(image: np.ndarray) -> np.ndarray:
    """Scales an 8- or 16-bit image to float32 in [0, 1]; float images pass through."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path beside `path` that is renamed onto it only on success.

    Example:
        with atomic_path("out/mask.png") as tmp:
            cv2.imwrite(tmp, mask)
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    base, suffix = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{suffix}", dir=directory)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_json(path: str | os.PathLike, payload) -> None:
    """Writes `payload` as indented JSON with sorted keys, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Writes an RGB(A) or grayscale image atomically (PNG/JPEG via OpenCV, TIFF via tifffile)."""
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        if path.lower().endswith((".tif", ".tiff")):
            tifffile.imwrite(tmp, image)
            return
        if image.ndim == 3:
            code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
            image = cv2.cvtColor(image, code)
        if not cv2.imwrite(tmp, image):
            raise ImageError(f"{path}: OpenCV could not write this image")
