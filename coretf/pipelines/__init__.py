"""Each job's batch work as an Apache Beam pipeline (the command is `coretf.pipeline`).

A pipeline is the same three steps for every job (`run`): the items (sections, slices, photo
sets) are spread over the workers, a DoFn does one item with the per-file functions of the job's
commands and yields its result (rows for the tables, or the reason it failed), and one last step
gathers the results and writes the run's tables and the report of bad items, `errors.txt`
(`write_report`). Each item's files are written atomically by the worker doing it, and each
stage of an item is skipped when an earlier run finished it, so a rerun redoes only what is
missing. The tables are written by a worker too, so that on a cluster nothing but the outputs'
storage is shared.
"""

from __future__ import annotations

import logging
import os
import typing

_root_level = logging.getLogger().level
logging.getLogger().setLevel(logging.ERROR)  # Beam's import warns of Google Cloud clients unused here
try:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
finally:
    logging.getLogger().setLevel(_root_level)

from coretf import outputs


def run(items: list, do_item: beam.DoFn, finish, beam_args: list[str]) -> None:
    """Runs `do_item` over `items` on the runner `beam_args` choose, then `finish(results)` on
    the list of everything the DoFn yielded (in no particular order) in one worker.

    The DirectRunner (also when no runner is named) runs on Beam's FnApiRunner, the engine it
    falls back to: Beam 2.77's DirectRunner would first try to download its Prism runner from
    GitHub. `--direct_num_workers` and `--direct_running_mode` apply as documented.
    """
    options = PipelineOptions(beam_args)
    runner = None
    if options.view_as(StandardOptions).runner in (None, "DirectRunner"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        runner = FnApiRunner()
        share_cores(options)
    with beam.Pipeline(runner=runner, options=options) as pipeline:
        _ = (pipeline
             | "items" >> beam.Create(items)
             | "spread" >> beam.Reshuffle()  # one item per bundle: every worker gets some
             # rows of mixed types: pickled, never a coder inferred from the first values
             | "do" >> beam.ParDo(do_item).with_output_types(typing.Any)
             | "gather" >> beam.combiners.ToList()
             | "tables" >> beam.Map(finish))


THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")


def share_cores(options: PipelineOptions) -> None:
    """Worker processes on this machine share its cores: each one's TensorFlow, oneDNN and OpenCV
    get cores / workers threads (unless set already), so that N workers do not each start a
    thread per core and contend. Threads in one process (multi_threading) are left alone."""
    direct = options.view_as(DirectOptions)
    workers = (os.cpu_count() or 1) if direct.direct_num_workers == 0 else direct.direct_num_workers or 1
    if direct.direct_running_mode != "multi_processing" or workers < 2:
        return
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, threads)


def write_report(output: str, messages) -> None:
    """`errors.txt` (`coretf.outputs.write_report`) of the items that failed, sorted: the workers'
    results come in no particular order."""
    outputs.write_report(output, sorted(m for m in messages if m))
