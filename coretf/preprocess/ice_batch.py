"""Ice-core CT slices of one resolution labelled one by one: a slice, a folder, or one stack.

A lab with a single scan, or a few slices, has no paired 30 um / 60 um stacks for the weak
labels of `coretf.preprocess.ice_stack`; each slice here gets the paper's per-slice method on its
own (`coretf.preprocess.ice_slices.label_slice`, Bagherzadeh et al. 2023, §III: 3x3 median, field
of view, normalisation, the 2-component GMM and Otsu's baseline). Slices may differ in size; a
folder is taken in natural file order (`s2` before `s10`) and may hold PNG, TIFF or JPEG slices.

Per slice `<stem>`: `image/<stem>.png` (normalised, 0 outside the field of view), `fov/`,
`gmm/`, `otsu/` (PNG masks, 255 = ice / inside) and `slices/<stem>.json` (thresholds, ice
fractions inside the field of view, the field of view and how it was found); then
`thresholds.csv` over every slice done. A rerun skips the slices done; bad slices are reported by
name and the others go on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from coretf import io as coretf_io
from coretf.io import ImageError
from coretf.preprocess import ice_slices, ice_stack

OUTPUT_FOLDERS = ("image", "fov", "gmm", "otsu")


def list_inputs(path: str | os.PathLike) -> list[str]:
    """`path` itself, or the slices of folder `path` in natural order.

    Raises:
        ImageError: a missing path, an empty folder, or two slices with one stem (their outputs
            would overwrite each other).
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        return [path]
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file or folder")
    paths = ice_stack.list_slices(path, coretf_io.IMAGE_SUFFIXES)
    stems: dict[str, str] = {}
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0]
        if stem in stems:
            raise ImageError(f"{p} and {os.path.basename(stems[stem])}: two slices named {stem!r}; "
                             f"rename one (their outputs would share a name)")
        stems[stem] = p
    return paths


Result = ice_slices.SliceLabels | ImageError


def label_files(paths: Sequence[str], *, fov: ice_stack.FovSpec = "auto", workers: int = 2,
                skip: Sequence[int] = ()) -> Iterator[tuple[int, str, Result]]:
    """Streams the labels of every slice of `paths` (not those in `skip`), in order.

    Args:
        paths: slice files.
        fov: "auto", "none" or a given circle (`ice_fov.parse_fov`), for every slice.
        workers: threads.
        skip: indices not to process (already done).

    Yields:
        (index, path, SliceLabels or the ImageError, naming the file, that made it unusable).
    """
    done = set(skip)
    for index, result in ice_stack.stream(lambda k: label_path(paths[k], fov),
                                          [k for k in range(len(paths)) if k not in done], workers):
        yield index, paths[index], result


def label_path(path: str, fov: ice_stack.FovSpec = "auto") -> Result:
    """The labels of one slice file, or the ImageError, naming the file, that made it unusable."""
    try:
        return ice_slices.label_slice(ice_stack.read_slice(path), path, **ice_stack.fov_arguments(fov))
    except ImageError as error:
        return error
    except Exception as error:  # a slice no check foresaw: named, not fatal
        return ImageError(f"{path}: cannot be labelled ({type(error).__name__}: {error})")


def slice_images(labels: ice_slices.SliceLabels) -> dict[str, np.ndarray]:
    """The images written per slice, by output folder."""
    return {"image": labels.image, "fov": labels.fov_mask, "gmm": labels.gmm, "otsu": labels.otsu}


def slice_record(index: int, path: str, labels: ice_slices.SliceLabels) -> dict:
    """A slice's JSON record: thresholds (normalised grey levels), ice fractions inside the
    field of view, and the field of view (how it was found, and any warning)."""
    inside = max(int(labels.fov_mask.sum()), 1)
    return {"slice": os.path.basename(path), "index": index,
            "gmm_threshold": labels.gmm_threshold, "otsu_threshold": labels.otsu_threshold,
            "gmm_ice_fraction": float(labels.gmm.sum() / inside),
            "otsu_ice_fraction": float(labels.otsu.sum() / inside), "fov_pixels": inside,
            **labels.fov.record(), "fov_warning": labels.fov_warning}


def write_slice_labels(input_path: str, output_dir: str, *, fov: ice_stack.FovSpec = "auto",
                       workers: int = 2, progress: bool = True) -> tuple[int, int, list[str]]:
    """Labels a slice, or every slice of a folder, into `output_dir` (see the module docstring).

    Returns:
        (slices labelled now, slices an earlier run had done, messages of the bad slices).

    Raises:
        ImageError: the input cannot be listed (`list_inputs`).
    """
    paths = list_inputs(input_path)
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    done = ice_stack.done_slices(output_dir, stems)
    results = label_files(paths, fov=fov, workers=workers, skip=done)
    count, bad = ice_stack.write_results(
        results, output_dir, stems, lambda k, labels: slice_record(k, paths[k], labels), slice_images,
        total=len(paths) - len(done), progress=progress)
    return count, len(done), bad
