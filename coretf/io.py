"""Reading and writing the image files a lab brings, with errors that name the file.

Core photographs arrive as 8- or 16-bit TIFF (BigTIFF too), PNG or JPEG, RGB or RGBA (the alpha
channel then carries a GIMP-style label). Everything here returns arrays in RGB order (OpenCV
reads BGR; that slip is one of the faults of the public code) and never writes a partial file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence

import cv2
import numpy as np
import tifffile

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
_LOG = logging.getLogger("coretf")


class ImageError(ValueError):
    """An input image that cannot be used; the message names the file and the problem."""


# The pixel count an image may declare before it is decoded: a 6 m section photographed at
# 500 dpi with its tray (118,000 x 6,000 px) is 0.7 Gpx. Commands set it with --max_pixels
# (through the environment, so that worker processes see it too).
DEFAULT_MAX_PIXELS = 1_000_000_000
MAX_PIXELS_ENV = "CORETF_MAX_PIXELS"


def max_pixels() -> int:
    """The current limit: $CORETF_MAX_PIXELS (set by every command's --max_pixels) or the default."""
    return int(float(os.environ.get(MAX_PIXELS_ENV) or DEFAULT_MAX_PIXELS))


def declared_shape(head: bytes | None, path_or_file, name: str) -> tuple[int, int, int] | None:
    """(height, width, planes) an image's header declares, without decoding its pixels.

    PNG (IHDR) and JPEG (the SOF marker) from `head`, the file's first bytes (the whole file
    for JPEG, whose SOF may follow large EXIF blocks); TIFF from its first series' shape
    (tifffile reads the IFDs only). None when the header says nothing readable (the decoder
    then reports the file).
    """
    suffix = os.path.splitext(name)[1].lower()
    if suffix == ".png" and head is not None:
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
            return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big"), 1
        return None
    if suffix in (".jpg", ".jpeg") and head is not None:
        return _jpeg_shape(head)
    if suffix in (".tif", ".tiff"):
        try:
            with tifffile.TiffFile(path_or_file) as tiff:
                page, shape = tiff.pages[0], tuple(tiff.series[0].shape)
                samples = page.samplesperpixel if shape and shape[-1] == page.samplesperpixel > 1 else 1
                pixels = int(np.prod(shape, dtype=np.int64)) // samples
                return page.imagelength, page.imagewidth, max(1, pixels // max(1, page.imagelength * page.imagewidth))
        except Exception:  # a corrupt header: the decoder names the problem
            return None
    return None


def _jpeg_shape(data: bytes) -> tuple[int, int, int] | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            return int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big"), 1
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def check_declared_size(shape: tuple[int, int, int] | None, name: str) -> None:
    """Refuses an image whose header declares more pixels than `max_pixels()`, naming the flag."""
    if shape is None:
        return
    height, width, planes = shape
    count, limit = height * width * planes, max_pixels()
    if count > limit:
        pages = f" x {planes} pages" if planes > 1 else ""
        raise ImageError(f"{name}: declares {width} x {height} px{pages} ({count / 1e6:,.0f} Mpx), more "
                         f"than --max_pixels={limit} ({limit / 1e6:,.0f} Mpx); not read (raise "
                         "--max_pixels if the image is that large)")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Reads an image file into an (H, W) or (H, W, C) array in RGB(A) order.

    Args:
        path: a TIFF/BigTIFF, PNG or JPEG file.

    Returns:
        uint8 or uint16 array, (H, W) for grayscale, (H, W, 3) RGB or (H, W, 4) RGBA.

    Raises:
        ImageError: the file is missing, corrupt or truncated, declares more pixels than
            `max_pixels()`, or has an unsupported bit depth, channel count or NaN values.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageError(f"{path}: no such file")
    if os.path.splitext(path)[1].lower() in (".tif", ".tiff"):
        check_declared_size(declared_shape(None, path, path), path)
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
    check_declared_size(declared_shape(data, io.BytesIO(data), name), name)
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


def to_grey(image: np.ndarray, name: str) -> np.ndarray:
    """An image where a grey one is expected (a CT slice, a mask): (H, W), same dtype.

    A grey image passes as it is. An RGB(A) image whose colour channels are equal, which is how
    a palette PNG of greys or a grey image saved as RGB decodes, is read as its first channel; a
    coloured one is converted by luminance (OpenCV's RGB2GRAY weights). Either is logged as a
    warning naming the file, and an alpha channel is left out.

    Raises:
        ImageError: naming the file, for a shape that is no image.
    """
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ImageError(f"{name}: expected a grey or RGB image, got shape {image.shape}")
    colour = image[..., :3]
    if np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 0], colour[..., 2]):
        _LOG.warning("%s: read as grey (an RGB or palette image whose three channels are equal)", name)
        return np.ascontiguousarray(colour[..., 0])
    _LOG.warning("%s: a colour image where a grey one is expected; converted by luminance", name)
    return cv2.cvtColor(np.ascontiguousarray(colour), cv2.COLOR_RGB2GRAY)


def check_unit_range(image: np.ndarray, name: str) -> np.ndarray:
    """A float photograph must hold values in [0, 1] (0-255 saved as float is refused, not
    clipped to white); integer images pass. Returns the image.

    Raises:
        ImageError: naming the file and the values found.
    """
    if image.dtype.kind == "f" and image.size:
        low, high = float(image.min()), float(image.max())
        if low < -1e-6 or high > 1 + 1e-6:
            raise ImageError(f"{name}: a float image with values in [{low:g}, {high:g}]; floats must be "
                             "in [0, 1] (8- and 16-bit images are scaled): rescale it, or save it as 8 or 16 bit")
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
    if base.endswith(".weights"):  # Keras saves weights only to a name ending in ".weights.h5"
        base, suffix = base[: -len(".weights")], ".weights" + suffix
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


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary folder beside `path` that replaces `path` (and what it held) only on success.

    For outputs that are folders, such as a SavedModel: a reader never sees a half-written one.
    The folder gets the usual permissions (mkdtemp makes it 0700, which would lock out other
    users of a shared model folder).
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to `path`, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


def write_csv(path: str | os.PathLike, header: Sequence[str],
              rows: Iterable[Sequence | Mapping], *, comment: bool = True) -> None:
    """Writes a CSV file with a header row, atomically.

    Args:
        path: the CSV file.
        header: column names.
        rows: sequences in header order, or mappings keyed by column name (a missing key is an
            empty field).
        comment: start with one `# ` line saying what made the file (`provenance_comment`);
            `read_csv` and `csv_rows` skip it, as pandas does with `comment="#"`.
    """
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        if comment:
            f.write(provenance_comment() + "\n")
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(c, "") for c in header] if isinstance(row, Mapping) else row)


def provenance_comment() -> str:
    """`# coretf <version> (commit <c>), TensorFlow <v>, Keras <v>, <date>: <command>`, one line."""
    from coretf import provenance  # noqa: PLC0415 (provenance imports coretf, which imports this)

    r = provenance.record()
    commit = f" (commit {r['git_commit']})" if r["git_commit"] else ""
    command = " ".join(r["command"].splitlines())
    return (f"# coretf {r['coretf']}{commit}, TensorFlow {r['tensorflow']}, Keras {r['keras']}, "
            f"{r['date']}: {command}")


def csv_rows(lines: Iterable[str]) -> Iterator[list[str]]:
    """`csv.reader` over a CSV file's lines, the `#` comment lines before the header skipped."""
    lines = iter(lines)
    for line in lines:
        if not line.startswith("#"):
            yield from csv.reader(itertools.chain([line], lines))
            return


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts keyed by its header (`#` lines before the header skipped)."""
    with open(path, newline="") as f:
        rows = csv_rows(f)
        header = next(rows, [])
        return [dict(zip(header, row)) for row in rows]


MASK_STEMS = ("_mask", "_label", "_labels")  # a file whose stem ends so is a mask, never a photograph


def list_images(path: str, *, exclude_stems: tuple[str, ...] = (), flag: str = "--input") -> list[str]:
    """The image files to process: `path` itself, or the images in folder `path` (sorted, not
    recursive; hidden files, masks (stems ending in MASK_STEMS) and stems ending in one of
    `exclude_stems`, e.g. outputs of another tool, left out).

    Raises:
        ValueError: naming `flag`, when the path does not exist or the folder holds no images.
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ValueError(f"{flag}={path}: no such file or folder")
    names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_SUFFIXES)
                   and not n.startswith(".") and not os.path.splitext(n)[0].endswith(MASK_STEMS + tuple(exclude_stems)))
    if not names:
        raise ValueError(f"{flag}={path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return [os.path.join(path, n) for n in names]


def write_json(path: str | os.PathLike, payload) -> None:
    """Writes `payload` as indented JSON with sorted keys, atomically; an object gets a
    "provenance" key (`coretf.provenance.record`) unless it has one."""
    if isinstance(payload, dict) and "provenance" not in payload:
        from coretf import provenance  # noqa: PLC0415

        payload = {**payload, "provenance": provenance.record()}
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
