"""Builds one of coretf's datasets, with a refusal as one line: `python -m coretf.build`.

    python -m coretf.build --dataset=sediment_cores --config=manual --manual_dir=/path/to/lab \
        [--data_dir=runs/tensorflow_datasets]

The same as `tfds build datasets/<dataset> --config=<config> --manual_dir=... --data_dir=...`
(which needs apache-beam and mlcroissant for its command line, and prints a refusal of the lab's
files at the bottom of a long traceback): a malformed table, a missing or unreadable image, a
value the builder refuses is one line naming the file (and the line) and exit code 2.
"""

from __future__ import annotations

import tensorflow_datasets as tfds
from absl import app, flags, logging

from coretf import flags as coretf_flags
from coretf.data import builders


def define_flags() -> None:
    flags.DEFINE_enum("dataset", None, builders.dataset_names(), "The dataset.", required=True)
    flags.DEFINE_string("config", "synthetic", "Builder config, e.g. synthetic, manual, manual_256.")
    flags.DEFINE_string("manual_dir", None, "A lab's folder (the manual configs).")
    flags.DEFINE_string("data_dir", "runs/tensorflow_datasets", "TFDS data directory.")


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    if not f["verbosity"].present:  # the result or the refusal, not TFDS's INFO lines and bars
        logging.set_verbosity(logging.WARNING)
        tfds.disable_progress_bar()
    try:
        builder = builders.get_builder(f.dataset, f.config, f.data_dir, f.manual_dir)
    except ValueError as error:  # the builders' refusals name the file and the problem
        raise app.UsageError(str(error).split("\n\n")[0]) from None
    sizes = ", ".join(f"{name} {split.num_examples}" for name, split in sorted(builder.info.splits.items()))
    print(f"{builders.dataset_name(builder)} in {builder.data_dir}: {sizes}")


def cli() -> None:
    """`coretf-build` (console script) and `python -m coretf.build`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
