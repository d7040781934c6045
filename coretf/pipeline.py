"""A job's batch work on Apache Beam, with the per-file functions of the commands
(`coretf.pipelines`).

    python -m coretf.pipeline --job=<job> --input=<file or folder> --output=<folder> [job flags] \\
        -- --runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing

Jobs:
  sediment_cores   background removal -> SavedModel inference -> colour record -> composite
                   splice (--model, --sections, --splice): the outputs of core_crop, predict and
                   colour_record under <output>/crops, predicted and colour.
  ice_ct           field of view, GMM weak label and Otsu's baseline per slice (--fov): the
                   outputs of `python -m coretf.preprocess.ice_labels --input=...`.
  sediment_grains  extraction -> encoder -> assignment to fitted K-means clusters (--model,
                   --centres, the grains command's extraction flags): the outputs of `grains`
                   and, under <output>/clusters, of `grain_clusters --centres=...`.

Everything after `--` is Beam's pipeline options, so the same command runs on Flink, Spark or
Dataflow with their options (`--runner=FlinkRunner --flink_master=host:8081`,
`--runner=DataflowRunner --project=... --region=... --temp_location=gs://...`; the input and output
must then be paths every worker can read and write); without options it runs on the DirectRunner
in this process.

Outputs are written atomically by the workers, an item's files together or not at all; a rerun
skips what is done. Bad inputs are collected into one report, `errors.txt`, and listed.
Exit status: 0 all done, 1 some items failed (listed), 2 nothing could start.
"""

from __future__ import annotations

import os
import sys

from absl import flags, logging

from coretf import flags as coretf_flags
from coretf import outputs, provenance

JOBS = ("sediment_cores", "ice_ct", "sediment_grains")


def define_flags() -> None:
    from coretf.preprocess import background, grains

    flags.DEFINE_enum("job", None, JOBS, "Whose batch work to run.", required=True)
    flags.DEFINE_string("input", None, "Section photographs, a slice or folder of slices, or a folder of "
                        "photo sets.", required=True)
    flags.DEFINE_string("output", None, "Folder the outputs go to (as the job's commands write them).",
                        required=True)
    flags.DEFINE_string("model", None, "sediment_cores: the exported SavedModel (predict's --model); "
                        "sediment_grains: the encoder export (<model_dir>/export_encoder).")
    flags.DEFINE_string("sections", None, "sediment_cores: the lab's sections.csv (or its folder), read as "
                        "core_crop, predict and colour_record read it.")
    flags.DEFINE_string("splice", None, "sediment_cores: splice table; also build the composite.")
    flags.DEFINE_float("px_per_cm", None, "sediment_cores: scale without --sections.")
    flags.DEFINE_enum("depth_axis", "auto", background.DEPTH_AXES,
                      "sediment_cores: depth axis without --sections.")
    flags.DEFINE_string("fov", "auto", "ice_ct: field of view: auto, none, or x,y,r in px.")
    flags.DEFINE_string("centres", None, "sediment_grains: fitted clusters (cluster_centres.csv of "
                        "grain_clusters, or its folder).")
    grains.define_extraction_flags()


def _run_job(values, beam_args: list[str]) -> tuple[str, list[str]]:
    if values.job == "ice_ct":
        from coretf.pipelines import ice_ct
        from coretf.preprocess import ice_fov

        return ice_ct.run(values.input, values.output, beam_args, fov=ice_fov.parse_fov(values.fov))
    needed = ("model", "centres") if values.job == "sediment_grains" else ("model",)
    missing = [f"--{name}" for name in needed if not values[name].value]
    if missing:
        raise ValueError(f"--job={values.job} needs {' and '.join(missing)}")
    if values.job == "sediment_cores":
        from coretf.pipelines import sediment_cores
        from coretf.preprocess import background

        if not values.sections and not values.px_per_cm:
            raise ValueError("--job=sediment_cores needs --sections=<sections.csv> or --px_per_cm")
        settings = sediment_cores.Settings(
            values.model, values.output, values.sections, values.splice, values.px_per_cm, values.depth_axis,
            background.CropParams(depth_axis=values.depth_axis))
        return sediment_cores.run(values.input, settings, beam_args)
    from coretf.pipelines import sediment_grains
    from coretf.preprocess import grains

    settings = sediment_grains.Settings(values.model, values.centres, values.output, values.layers,
                                        values.crop_size, grains.settings_from_flags(values))
    return sediment_grains.run(values.input, settings, beam_args)


def main(argv) -> None:
    values = flags.FLAGS
    if not values["verbosity"].present:  # results and errors, not Beam's INFO lines
        logging.set_verbosity(logging.WARNING)
    os.environ[provenance.COMMAND_ENV] = provenance.record()["command"]  # the workers' records name it
    try:
        line, bad = _run_job(values, list(argv[1:]))
    except ValueError as error:  # an ImageError, a bad table, or an unusable --output
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(line)
    if bad:
        print(f"{len(bad)} bad item(s) (also in {os.path.join(values.output, outputs.REPORT)}):")
        for message in bad:
            print(f"  {message}")
        sys.exit(1)


def cli() -> None:
    """`coretf-pipeline` (console script) and `python -m coretf.pipeline`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
