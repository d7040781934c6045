"""Trains one experiment: `python -m coretf.train --flagfile=trainers/<experiment>.flags`.

`--job` picks the job (`coretf/jobs/<job>.py`); the other flags are the fields of the jobs'
configuration dataclasses (`coretf.flags`). This command parses them, writes `flags.txt` and hands
the configured job to `coretf.runner.run`, which trains, evaluates and exports; what the model
directory then holds is listed in `coretf.jobs.base`.
"""

from __future__ import annotations

import os
import sys

from absl import flags, logging

from coretf import flags as coretf_flags
from coretf import io as coretf_io
from coretf import runner


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command's flags (call once, from the app or a test's own FlagValues)."""
    coretf_flags.define_train_flags(flag_values)
    flags.adopt_module_key_flags(coretf_flags, flag_values)  # --help lists them as this command's


def run(flag_values: flags.FlagValues = flags.FLAGS) -> dict:
    """Trains the job the parsed flags describe; prints where everything went. Returns the metrics.

    Raises:
        ValueError: a flag the job refuses, or data that cannot be used (the message names the
            flag or the file).
    """
    job = coretf_flags.job_from_flags(flag_values)
    model_dir = flag_values["model_dir"].value
    os.makedirs(model_dir, exist_ok=True)
    # The resolved settings as a flagfile of this job's flags only: it runs the same training again.
    lines = [f"--model_dir={model_dir}", *coretf_flags.config_flags(job.config)]
    coretf_io.write_text(os.path.join(model_dir, "flags.txt"), "\n".join(lines) + "\n")
    metrics = runner.run(job, model_dir)
    where = os.path.abspath(model_dir)
    print(f"\ndata: {metrics['dataset']} in {os.path.abspath(job.config.data_dir)}")
    print(f"model directory: {where}")
    if "members" in metrics:  # k-fold or an ensemble: the members' mean figures (SDs in metrics.json)
        kind = "folds" if "folds" in metrics else "seeds"
        print(f"  {metrics['members']} {kind} in {', '.join(metrics['member_dirs'])}; mean over them:")
        for line in job.summary_lines({**metrics["mean"], "epochs": metrics["epochs"]}):
            print(f"  {line}")
        if "ensemble" in metrics:
            print("  the ensemble (mean probabilities of the members):")
            for line in job.summary_lines({**metrics["mean"], **metrics["ensemble"], "epochs": metrics["epochs"]}):
                print(f"  {line}")
        if "export" in metrics:
            print(f"  SavedModel of the ensemble: {os.path.join(where, 'export')}")
    else:
        for line in job.summary_lines(metrics):
            print(f"  {line}")
    print(f"  metrics: {os.path.join(where, 'metrics.json')}")
    for folder in metrics.get("member_dirs", [""]):
        run_dir = os.path.join(where, folder)
        print(f"  {folder + ': ' if folder else ''}pictures: {os.path.join(run_dir, 'test_predictions.png')}, "
              f"SavedModel: {os.path.join(run_dir, 'export')}, "
              f"TensorBoard: tensorboard --logdir {os.path.join(run_dir, 'logs')}")
    sys.stdout.flush()
    return metrics


def main(argv):
    del argv
    verbose = flags.FLAGS["verbosity"].present
    if not verbose:  # progress bars, not INFO lines; -v 0 restores them
        logging.set_verbosity(logging.WARNING)
    try:
        run(flags.FLAGS)
    except ValueError as error:  # a refusal names the flag or file: one line, not a traceback
        if verbose:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def cli() -> None:
    """`coretf-train` (console script) and `python -m coretf.train`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
