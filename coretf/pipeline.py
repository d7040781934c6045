"""A job's batch work on Apache Beam, with the per-file functions of the commands.

    python -m coretf.pipeline --job=ice_ct --input=<slice or folder> --output=<folder> \\
        -- --runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing

Everything after `--` is Beam's pipeline options, so the same command runs on Flink, Spark or
Dataflow with their options (`--runner=FlinkRunner --flink_master=host:8081`,
`--runner=DataflowRunner --project=... --region=... --temp_location=gs://...`; the input and output
must then be paths every worker can read and write); without options it runs on the DirectRunner
in this process.

Jobs so far:
  ice_ct   field of view, GMM weak label and Otsu's baseline per slice: the outputs of
           `python -m coretf.preprocess.ice_labels --input=...` (`coretf.preprocess.ice_batch`),
           file for file.
The core-section and grain pipelines are still to come (the commands do that work on one machine).

Outputs are written atomically by the workers, a slice's files together or not at all; a rerun
skips the slices done. Bad inputs are collected into one report, `errors.txt`, and listed.
Exit status: 0 all done, 1 some items failed (listed), 2 nothing could start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from absl import flags

_root_level = logging.getLogger().level
logging.getLogger().setLevel(logging.ERROR)  # Beam's import warns of Google Cloud clients unused here
try:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
finally:
    logging.getLogger().setLevel(_root_level)

from coretf import flags as coretf_flags
from coretf import io as coretf_io
from coretf import outputs
from coretf.io import ImageError
from coretf.preprocess import ice_batch, ice_fov, ice_stack

JOBS = ("ice_ct",)
REPORT = "errors.txt"


def define_flags() -> None:
    flags.DEFINE_enum("job", "ice_ct", JOBS, "Whose batch work to run.")
    flags.DEFINE_string("input", None, "A slice or a folder of slices (ice_ct).", required=True)
    flags.DEFINE_string("output", None, "Folder the outputs go to (as the job's command writes them).",
                        required=True)
    flags.DEFINE_string("fov", "auto", "ice_ct: field of view: auto, none, or x,y,r in px.")


class LabelSlice(beam.DoFn):
    """(index, path) -> None when the slice's outputs are written, else the reason it failed."""

    def __init__(self, output: str, fov: ice_stack.FovSpec):
        self.output, self.fov = output, fov

    def process(self, item):
        index, path = item
        stem = os.path.splitext(os.path.basename(path))[0]
        labels = ice_batch.label_path(path, self.fov)
        if isinstance(labels, ImageError):
            yield str(labels)
            return
        try:
            ice_stack.write_slice(self.output, stem, ice_batch.slice_images(labels),
                                  ice_batch.slice_record(index, path, labels))
        except Exception as error:  # noqa: BLE001 - one slice's failure is its report line
            yield outputs.item_error(path, error)
            return
        yield None


def _write_report(messages: list, output: str) -> None:
    messages = sorted(m for m in messages if m)
    if messages:
        coretf_io.write_text(os.path.join(output, REPORT), "\n".join(messages) + "\n")


def run_ice(input_path: str, output: str, fov: ice_stack.FovSpec, beam_args: list[str]) -> tuple[int, int, list[str]]:
    """Labels every slice of `input_path` not done yet on Beam. Returns (labelled now, done
    before, messages of the bad slices).

    Raises:
        ValueError: the input cannot be listed, or `output` is unusable (`coretf.outputs`).
    """
    paths = ice_batch.list_inputs(input_path)
    outputs.prepare(output, input_path, first_image=paths[0], bytes_per_pixel=4)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(output, REPORT))  # an earlier run's
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    done = set(ice_stack.done_slices(output, stems))
    todo = [(k, p) for k, p in enumerate(paths) if k not in done]
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        _ = (pipeline
             | "slices" >> beam.Create(todo)
             | "label" >> beam.ParDo(LabelSlice(output, fov))
             | "collect" >> beam.combiners.ToList()
             | "report" >> beam.Map(_write_report, output))
    ice_stack.write_thresholds(output, stems)
    report = os.path.join(output, REPORT)
    bad = []
    if os.path.exists(report):
        with open(report) as f:
            bad = f.read().splitlines()
    return len(todo) - len(bad), len(done), bad


def main(argv) -> None:
    values = flags.FLAGS
    try:
        fov = ice_fov.parse_fov(values.fov)
        count, done, bad = run_ice(values.input, values.output, fov, list(argv[1:]))
    except ValueError as error:  # an ImageError, or an unusable --output
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"labelled {count} slice(s) ({done} done before) into {os.path.abspath(values.output)}")
    if bad:
        print(f"{len(bad)} bad slice(s) (also in {os.path.join(values.output, REPORT)}):")
        for message in bad:
            print(f"  {message}")
        sys.exit(1)


def cli() -> None:
    """`coretf-pipeline` (console script) and `python -m coretf.pipeline`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
