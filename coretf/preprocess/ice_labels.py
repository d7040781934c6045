"""GMM labels of ice-core micro-CT slices: `python -m coretf.preprocess.ice_labels`.

Two modes, one method (Bagherzadeh et al. 2023, §III; `coretf.preprocess.ice_slices`: denoising,
field of view, normalisation, the 2-component Gaussian mixture and Otsu's baseline):

- paired stacks (`--high_dir`, `--low_dir`): every low-res slice gets the weak label of its two
  high-res slices (2x2x2 mean, `coretf.preprocess.ice_stack`);
- one resolution (`--input`, a slice or a folder: single slices or one stack): every slice is
  labelled on its own (`coretf.preprocess.ice_batch`).

`--fov` says where the data are: `auto` (inside the carbon-fibre ring, checked; a slice whose
ring is not found or implausibly small falls back to the data extent, with a warning naming it),
`none` (the whole image) or `x,y,r` (a circle in pixels; high-res pixels for paired stacks).
Writes the normalised slices, the masks, `slices/<stem>.json` and `thresholds.csv` into
--output; a rerun skips the slices already done, and bad slices are reported and skipped.
Exit status: 0 all done, 1 some slices failed (listed), 2 nothing could start.

    python -m coretf.preprocess.ice_labels --input=<slice or folder> --output=<dir> [--fov=auto]
    python -m coretf.preprocess.ice_labels --high_dir=<stack> --low_dir=<stack> --output=<dir>
"""

from __future__ import annotations

import os
import sys

from absl import flags

from coretf import flags as coretf_flags
from coretf import outputs
from coretf.io import ImageError
from coretf.preprocess import ice_batch, ice_fov, ice_stack


def define_flags() -> None:
    """Flags of `python -m coretf.preprocess.ice_labels` (called under __main__ only)."""
    flags.DEFINE_string("input", None, "A slice, or a folder of slices of one resolution (single "
                        "slices or one stack), each labelled on its own.")
    flags.DEFINE_string("high_dir", None, "Paired mode: folder of the high-res slices (30 um).")
    flags.DEFINE_string("low_dir", None, "Paired mode: folder of the low-res slices (60 um).")
    flags.DEFINE_string("output", None, "Where the labels go (rerun: done slices skipped).",
                        required=True)
    flags.DEFINE_string("fov", "auto", "Field of view: auto (inside the carbon-fibre ring, else "
                        "the data extent, warned), none (the whole image) or x,y,r (a circle: "
                        "centre column, row and radius in pixels; high-res pixels when paired).")
    flags.DEFINE_integer("workers", 2, "Slices labelled at once.", lower_bound=1)


def _fail_to_start(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _check_circle(fov: ice_fov.FieldOfView, first: str) -> None:
    """A given circle checked against the first slice's size before anything is written."""
    try:
        image = ice_stack.read_slice(first)
    except ImageError:
        return  # reported with the slice
    try:
        ice_fov.check_field_of_view(fov, image.shape, first)
    except ImageError as error:
        _fail_to_start(f"--fov: {error}")


def main(argv) -> None:
    values = flags.FLAGS
    if len(argv) > 1:
        _fail_to_start(f"unexpected arguments: {' '.join(argv[1:])}")
    paired = values.high_dir is not None or values.low_dir is not None
    if paired == (values.input is not None) or (paired and None in (values.high_dir, values.low_dir)):
        _fail_to_start("give --input=<slice or folder>, or both --high_dir and --low_dir")
    try:
        fov = ice_fov.parse_fov(values.fov)
    except ValueError as error:
        _fail_to_start(str(error))
    try:
        first = (ice_stack.list_slices(values.high_dir) if paired
                 else ice_batch.list_inputs(values.input))[0]
        if isinstance(fov, ice_fov.FieldOfView):
            _check_circle(fov, first)
        outputs.prepare(values.output, values.high_dir if paired else values.input, first_image=first,
                        bytes_per_pixel=4)
        if paired:
            count, bad = ice_stack.write_stack_labels(values.high_dir, values.low_dir,
                                                      values.output, workers=values.workers,
                                                      fov=fov)
            what = "low-res slice" + "s" * (count != 1)
        else:
            count, done, bad = ice_batch.write_slice_labels(values.input, values.output, fov=fov,
                                                            workers=values.workers)
            what = "slice" + "s" * (count != 1) + (f" ({done} done before)" if done else "")
    except ValueError as error:  # an ImageError, or an unusable --output (coretf.outputs)
        _fail_to_start(str(error))
    print(f"labelled {count} {what} into {os.path.abspath(values.output)}")
    if bad:
        print(f"skipped {len(bad)} bad slices:")
        for message in bad:
            print(f"  {message}")
        sys.exit(1)


def cli() -> None:
    """`coretf-ice-labels` (console script) and `python -m coretf.preprocess.ice_labels`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
