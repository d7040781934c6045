"""Slice stacks of one ice-core specimen at two resolutions: reading, pairing, labelling.

A stack is a folder of 2-D slices (PNG or TIFF, 8- or 16-bit grey; palette and RGB images are
read as grey with a warning, `coretf.io.to_grey`), ordered by file name
(numbers compared as numbers, so `s2` comes before `s10`), slice 0 at the specimen top. The
low-res stack has half as many slices as the high-res one: low-res slice k is aligned with
high-res slices 2k and 2k + 1 (the paper reconstructs both from the same projections), and its
sides are half the high-res ones (an odd last high-res row or column is dropped).

`label_stack` streams over the pairs with a thread pool (OpenCV and NumPy release the GIL, so
both cores work) and yields every low-res slice's labels in order, or the error of a bad one.
The field of view is found per high-res slice (`fov="auto"`), or is the whole image ("none") or a
given circle in high-res pixels; the low-res slice takes its pair's, at half the scale. Slices of
one resolution labelled one by one are `coretf.preprocess.ice_batch`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np
from tqdm.auto import tqdm

from coretf import io as coretf_io
from coretf import outputs
from coretf.io import ImageError
from coretf.preprocess import ice_slices

SLICE_SUFFIXES = (".png", ".tif", ".tiff")
FovSpec = str | ice_slices.FieldOfView  # "auto", "none" or a given circle (high-res px)
_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class LowResLabels:
    """Everything the paper derives for one low-res slice.

    Attributes:
        name: the low-res slice's file name.
        index: its position in the stack (0 = specimen top).
        image: (h, w) uint8, the denoised, normalised low-res slice (0 outside the field of view).
        fov: (h, w) uint8, 1 inside the field of view.
        weak: (h, w) uint8, the weak label from two high-res GMM masks, 1 = ice.
        gmm_low, otsu_low: (h, w) uint8, the baselines on the low-res slice itself.
        thresholds: grey-level thresholds (normalised levels) of the three slices.
        field: the low-res field of view (its pair's, at half the scale).
        warnings: the high-res slices' field-of-view warnings (automatic search fell back).
    """

    name: str
    index: int
    image: np.ndarray
    fov: np.ndarray
    weak: np.ndarray
    gmm_low: np.ndarray
    otsu_low: np.ndarray
    thresholds: dict
    field: ice_slices.FieldOfView | None = None
    warnings: tuple[str, ...] = ()


def natural_key(name: str) -> list:
    """Sort key comparing digit runs as numbers: s2.png < s10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_slices(folder: str | os.PathLike, suffixes: Sequence[str] = SLICE_SUFFIXES) -> list[str]:
    """The slice files (`suffixes`, hidden files left out) of a stack folder in stack order.

    Raises:
        ImageError: the folder is missing or holds no slice.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ImageError(f"{folder}: no such folder")
    names = sorted((n for n in os.listdir(folder) if n.lower().endswith(tuple(suffixes))
                    and not n.startswith(".")), key=natural_key)
    if not names:
        raise ImageError(f"{folder}: no slices (expected {', '.join(suffixes)} files)")
    return [os.path.join(folder, n) for n in names]


def read_slice(path: str) -> np.ndarray:
    """A slice file as (H, W) uint8 or uint16; a palette or RGB image is read as grey (warned).

    Raises:
        ImageError: naming the file, for an unreadable file or an unsupported type.
    """
    image = coretf_io.to_grey(coretf_io.read_image(path), path)
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: expected an 8- or 16-bit slice, got {image.dtype}")
    return image


def fov_arguments(fov: FovSpec) -> dict:
    """`label_slice` keywords for a field-of-view mode or a given circle."""
    return {"fov_mode": fov} if isinstance(fov, str) else {"fov": fov}


def stream(work: Callable[[int], _T], todo: Sequence[int], workers: int) -> Iterator[tuple[int, _T]]:
    """(k, work(k)) for every k of `todo`, in order, computed by a pool of `workers` threads with
    at most 2 x workers in flight: memory stays a few slices whatever the stack size."""
    workers = max(1, workers)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending: collections.deque = collections.deque()
        for k in todo:
            pending.append((k, pool.submit(work, k)))
            if len(pending) >= 2 * workers:
                index, future = pending.popleft()
                yield index, future.result()
        for index, future in pending:
            yield index, future.result()


def check_pairing(high: Sequence[str], low: Sequence[str]) -> None:
    """Raises ImageError unless the high-res stack has exactly two slices per low-res slice."""
    if len(high) != 2 * len(low):
        raise ImageError(
            f"{os.path.dirname(high[0])} ({len(high)} slices) and {os.path.dirname(low[0])} "
            f"({len(low)} slices) do not pair up: the high-res stack needs exactly 2 slices per "
            f"low-res slice")


class StackReader:
    """Reads the slices of one stack, checking they share one size and bit depth."""

    def __init__(self):
        self.reference: tuple[str, tuple, np.dtype] | None = None

    def __call__(self, path: str) -> np.ndarray:
        image = read_slice(path)
        if self.reference is None:
            self.reference = (path, image.shape, image.dtype)
        first, shape, dtype = self.reference
        if image.shape != shape or image.dtype != dtype:
            raise ImageError(f"{path}: {image.shape[0]}x{image.shape[1]} {image.dtype} differs from "
                             f"the stack's first slice {os.path.basename(first)} "
                             f"({shape[0]}x{shape[1]} {dtype}); mixed sizes or bit depths in one stack")
        return image


def label_pair(high_a: np.ndarray, high_b: np.ndarray, low: np.ndarray,
               names: tuple[str, str, str], index: int = 0, *, fov: FovSpec = "auto") -> LowResLabels:
    """Labels low-res slice `low` from its two high-res slices.

    Args:
        high_a, high_b: (H, W) uint8/uint16 high-res slices 2k and 2k + 1.
        low: (h, w) uint8/uint16 low-res slice k, with H in (2h, 2h + 1) and W likewise.
        names: file names of the three, for errors.
        index: k.
        fov: "auto", "none" or a circle in high-res pixels (`ice_fov.parse_fov`).

    Raises:
        ImageError: sizes that do not pair, or a slice that cannot be labelled
            (BlankSliceError for an all-black one).
    """
    if any(hs not in (2 * ls, 2 * ls + 1) for hs, ls in zip(high_a.shape, low.shape)):
        raise ImageError(f"{names[2]}: {low.shape[0]}x{low.shape[1]} px does not pair with "
                         f"{os.path.basename(names[0])} ({high_a.shape[0]}x{high_a.shape[1]} px): "
                         f"the low resolution must be half the high resolution")
    first = ice_slices.label_slice(high_a, names[0], **fov_arguments(fov))
    second = ice_slices.label_slice(high_b, names[1], **fov_arguments(fov))
    # The low-res field of view: inside both high-res circles, at half the scale.
    field = first.fov.narrower(second.fov, high_a.shape).scaled(0.5)
    own = ice_slices.label_slice(low, names[2], fov=field)
    h, w = low.shape
    weak = ice_slices.low_resolution_label(first.gmm, second.gmm)[:h, :w] & own.fov_mask
    return LowResLabels(
        name=os.path.basename(names[2]), index=index, image=own.image,
        fov=own.fov_mask.astype(np.uint8), weak=weak.astype(np.uint8),
        gmm_low=own.gmm.astype(np.uint8), otsu_low=own.otsu.astype(np.uint8),
        thresholds={"gmm_high_a": first.gmm_threshold, "gmm_high_b": second.gmm_threshold,
                    "gmm_low": own.gmm_threshold, "otsu_low": own.otsu_threshold},
        field=field, warnings=tuple(w for w in (first.fov_warning, second.fov_warning) if w))


def label_stack(high_dir: str, low_dir: str, *, workers: int = 2, skip: Sequence[int] = (),
                fov: FovSpec = "auto") -> Iterator[tuple[int, str, LowResLabels | ImageError]]:
    """Streams the labels of every low-res slice of a specimen, in stack order.

    Args:
        high_dir, low_dir: the two stack folders.
        workers: threads (slices labelled at once).
        skip: low-res indices not to process (already done).
        fov: the field of view of the high-res slices, as `label_pair`'s.

    Yields:
        (index, low-res file path, LowResLabels or the ImageError that made the slice unusable).

    Raises:
        ImageError: a folder is missing or empty, or the stacks do not pair up.
    """
    high, low = list_slices(high_dir), list_slices(low_dir)
    check_pairing(high, low)
    read_high, read_low = StackReader(), StackReader()
    done = set(skip)

    def work(k: int) -> LowResLabels | ImageError:
        names = (high[2 * k], high[2 * k + 1], low[k])
        try:
            return label_pair(read_high(names[0]), read_high(names[1]), read_low(names[2]), names, k,
                              fov=fov)
        except ImageError as error:
            return error
        except Exception as error:  # a slice no check foresaw: named, not fatal
            return ImageError(f"{names[2]}: cannot be labelled ({type(error).__name__}: {error})")

    for reader, path in ((read_high, high[0]), (read_low, low[0])):
        try:  # the first slices set the stack's size and bit depth, whichever thread runs first
            reader(path)
        except ImageError:
            pass  # reported when its pair is processed
    todo = [k for k in range(len(low)) if k not in done]
    for index, result in stream(work, todo, workers):
        yield index, low[index], result


OUTPUT_FOLDERS = ("image", "fov", "weak", "gmm_low", "otsu_low")


def write_stack_labels(high_dir: str, low_dir: str, output_dir: str, *, workers: int = 2,
                       progress: bool = True, fov: FovSpec = "auto") -> tuple[int, list[str]]:
    """Labels a specimen's stacks into `output_dir`, skipping slices done by an earlier run.

    Writes, per low-res slice `<stem>`: `image/<stem>.png` (normalised slice), `fov/`, `weak/`,
    `gmm_low/`, `otsu_low/` (PNG masks, 255 = ice / inside) and `slices/<stem>.json` (its
    thresholds, weak-label ice fraction and field of view; written last, so a slice counts as
    done only when all its files exist), then `thresholds.csv` over all done slices. Every file
    is written atomically.

    Args:
        fov: the high-res slices' field of view, as `label_pair`'s.

    Returns:
        (number of slices labelled now, messages of the bad slices skipped).
    """
    low = list_slices(low_dir)
    stems = [os.path.splitext(os.path.basename(p))[0] for p in low]
    done = done_slices(output_dir, stems)

    def record(index: int, result: LowResLabels) -> dict:
        return {"slice": result.name, "index": index, **result.thresholds,
                "weak_ice_fraction": float(result.weak.sum() / max(result.fov.sum(), 1)),
                **result.field.record(), "fov_warning": "; ".join(result.warnings) or None}

    results = label_stack(high_dir, low_dir, workers=workers, skip=done, fov=fov)
    return write_results(results, output_dir, stems, record,
                         lambda r: {f: getattr(r, f) for f in OUTPUT_FOLDERS},
                         total=len(low) - len(done), progress=progress)


def done_slices(output_dir: str, stems: Sequence[str]) -> list[int]:
    """Indices of the slices whose record `slices/<stem>.json` an earlier run wrote."""
    records = os.path.join(output_dir, "slices")
    return [k for k, stem in enumerate(stems) if os.path.exists(os.path.join(records, f"{stem}.json"))]


def write_results(results: Iterator[tuple[int, str, object]], output_dir: str, stems: Sequence[str],
                  record: Callable[[int, object], dict], images: Callable[[object], dict], *,
                  total: int, progress: bool = True) -> tuple[int, list[str]]:
    """Writes streamed labels: `images(result)` ({folder: (H, W) uint8}, masks 0/1 saved as
    0/255, the "image" folder as it is) as `<folder>/<stem>.png`, then `record(index, result)`
    as `slices/<stem>.json`, and `thresholds.csv` over every slice done (in stack order).

    Returns:
        (slices written now, messages of the bad ones: the ImageErrors `results` yielded).
    """
    bad, count = [], 0
    for index, path, result in tqdm(results, total=total, disable=not progress, desc="ice labels",
                                    unit="slice"):
        if isinstance(result, ImageError):
            bad.append(str(result))
            continue
        try:
            write_slice(output_dir, stems[index], images(result), record(index, result))
        except Exception as error:  # a slice whose outputs cannot be written: named, not fatal
            if outputs.disk_full(error):
                bad.append(outputs.stopped(path, output_dir))
                return count, bad  # no room for thresholds.csv; the rerun writes it
            bad.append(outputs.item_error(path, error))
            continue
        count += 1
    write_thresholds(output_dir, stems)
    return count, bad


def write_slice(output_dir: str, stem: str, images: dict[str, np.ndarray], record: dict) -> None:
    """One slice's outputs, together or not at all: `<folder>/<stem>.png` per image (masks 0/1
    saved as 0/255, the "image" folder as it is), then its record `slices/<stem>.json`."""
    marker = os.path.join(output_dir, "slices", f"{stem}.json")
    with outputs.one_item([*(os.path.join(output_dir, f, f"{stem}.png") for f in images), marker]):
        for folder, array in images.items():
            coretf_io.write_image(os.path.join(output_dir, folder, f"{stem}.png"),
                                  array if folder == "image" else array.astype(np.uint8) * np.uint8(255))
        coretf_io.write_json(marker, record)


def write_thresholds(output_dir: str, stems: Sequence[str]) -> None:
    """`thresholds.csv` over every slice of `stems` done (in stack order), if any."""
    rows = [{key: value for key, value in _read_json(os.path.join(output_dir, "slices", f"{stems[k]}.json")).items()
             if key != "provenance"} for k in done_slices(output_dir, stems)]
    if rows:
        header = list(dict.fromkeys(key for row in rows for key in row))  # a rerun may add columns
        coretf_io.write_csv(os.path.join(output_dir, "thresholds.csv"), header, rows)


def _read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)
