"""GMM weak labels of an ice-core micro-CT stack: `python -m coretf.preprocess.ice_labels`.

Labels every low-res slice of a specimen from its two high-res slices by the per-slice method of
Bagherzadeh et al. (2023, §III; `coretf.preprocess.ice_slices`: denoising, field of view,
normalisation, the 2-component Gaussian mixture and Otsu's baseline, the 2x2x2 low-res label),
over the pairs that `coretf.preprocess.ice_stack` reads and matches. Writes the normalised
slices, the masks and `thresholds.csv` into --output_dir; a rerun skips the slices already done,
and bad slices are skipped and named.

    python -m coretf.preprocess.ice_labels --high_dir=<stack> --low_dir=<stack> --output_dir=<dir>
"""

from __future__ import annotations

import os

from absl import app, flags

from coretf.io import ImageError
from coretf.preprocess import ice_stack


def define_flags() -> None:
    """Flags of `python -m coretf.preprocess.ice_labels` (called under __main__ only)."""
    flags.DEFINE_string("high_dir", None, "Folder of the high-res slices (30 um).", required=True)
    flags.DEFINE_string("low_dir", None, "Folder of the low-res slices (60 um).", required=True)
    flags.DEFINE_string("output_dir", None, "Where the labels go (rerun: done slices skipped).",
                        required=True)
    flags.DEFINE_integer("workers", 2, "Slices labelled at once.")


def main(argv) -> None:
    del argv
    values = flags.FLAGS
    try:
        count, bad = ice_stack.write_stack_labels(values.high_dir, values.low_dir, values.output_dir,
                                                  workers=values.workers)
    except ImageError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"labelled {count} low-res slices into {os.path.abspath(values.output_dir)}")
    if bad:
        print(f"skipped {len(bad)} bad slices:")
        for message in bad:
            print(f"  {message}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
