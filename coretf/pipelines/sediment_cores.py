"""Core sections on Beam: background removal -> SavedModel inference -> colour record, and the
composite splice, with the per-file functions of the three commands, into the folders the
README's chain writes:

  <output>/crops/      python -m coretf.preprocess.core_crop   (crops, crops.csv, review/)
  <output>/predicted/  python -m coretf.predict                (masks, confidence maps, overlays, JSON)
  <output>/colour/     python -m coretf.analysis.colour_record (records, plots, status, composite)

Each worker loads the SavedModel once (`ProcessSection.setup`) and takes a section through the
three stages, skipping a stage an earlier run finished; the last step writes `crops.csv`, the
review sheet, `colour_record_status.csv` and, with a splice table, the composite.
"""

from __future__ import annotations

import dataclasses
import functools
import os

from coretf import io as coretf_io
from coretf import inference, outputs, pipelines
from coretf.analysis import colour_batch
from coretf.pipelines import beam
from coretf.preprocess import background, core_crop_batch

STAGES = ("crops", "predicted", "colour")  # the output's sub-folders, one per command


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every section of a run shares: the model, the lab's tables, the flags' fallbacks."""

    model: str
    output: str
    sections: str | None = None  # the lab's sections.csv (or its folder)
    splice: str | None = None
    px_per_cm: float | None = None  # without a sections table
    depth_axis: str = "auto"  # without a sections table (core_crop's is `crop.depth_axis`)
    crop: background.CropParams = background.CropParams()  # core_crop's flags
    section_lengths_cm: tuple[float, ...] = (120.0, 150.0)

    def folder(self, stage: str) -> str:
        return os.path.join(self.output, stage)


class Tables:
    """The lab's tables as the commands read them: core_crop's per-file settings, and the
    section rows predict and colour_record read (scale, top depth, depth axis)."""

    def __init__(self, settings: Settings):
        self.default = core_crop_batch.SectionMeta(settings.px_per_cm, settings.section_lengths_cm)
        self.metas, self.rows = {}, None
        if settings.sections:
            from coretf_datasets.sediment_cores.manual_sections import read_table

            self.metas = core_crop_batch.read_sections_csv(settings.sections, self.default, settings.crop)
            self.rows = read_table(settings.sections)

    def meta(self, path: str) -> core_crop_batch.SectionMeta:
        return self.metas.get(os.path.splitext(os.path.basename(path))[0], self.default)

    def placement(self, path: str, settings: Settings) -> colour_batch.Placement:
        stem = os.path.splitext(os.path.basename(path))[0]
        if self.rows is None:
            return colour_batch.Placement(settings.px_per_cm, 0.0, settings.depth_axis)
        if stem not in self.rows:
            raise ValueError(f"{path}: section {stem!r} is not listed in {settings.sections}")
        return colour_batch.placement_of(self.rows[stem])


class ProcessSection(beam.DoFn):
    """(index, photograph) -> {"index", "crop": its crops.csv row, "colour": its status row or
    None, "error": the reason it failed or None}."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def setup(self):
        self.predictor = inference.Predictor(self.settings.model)  # once per worker
        self.tables = Tables(self.settings)

    def process(self, item):
        index, path = item
        s = self.settings
        result = {"index": index, "crop": None, "colour": None, "error": None}
        row = core_crop_batch.done_row(s.folder("crops"), path)
        if row is None:
            row = core_crop_batch.crop_file(path, s.folder("crops"), s.crop, self.tables.meta(path))
            core_crop_batch.mark_done(s.folder("crops"), path, row)
        result["crop"] = row
        if row["status"] == "error" or not row["output"]:  # unreadable, or no core to segment
            if row["status"] == "error":
                result["error"] = row["message"]
            yield result
            return
        crop = os.path.join(s.folder("crops"), row["output"])
        try:
            inference.predict_path(self.predictor, crop, s.folder("predicted"), self.tables.rows,
                                   px_per_cm=s.px_per_cm, depth_axis=s.depth_axis, progress=False)
        except Exception as error:  # noqa: BLE001 - one section's failure is its report line
            result["error"] = outputs.item_error(crop, error)
            yield result
            return
        try:
            result["colour"] = colour_batch.measure_or_resume(
                crop, s.folder("predicted"), s.folder("colour"), self.tables.placement(crop, s))
        except Exception as error:  # noqa: BLE001
            result["error"] = outputs.item_error(crop, error)
            result["colour"] = {"section": os.path.splitext(row["output"])[0], "image": crop,
                                "status": "failed", "message": result["error"]}
        yield result


def _finish(results: list, settings: Settings) -> None:
    results = sorted(results, key=lambda r: r["index"])
    core_crop_batch.write_tables(settings.folder("crops"), [r["crop"] for r in results])
    colour = sorted((r["colour"] for r in results if r["colour"]), key=lambda row: row["image"])
    colour_batch.write_status_csv(os.path.join(settings.folder("colour"), "colour_record_status.csv"),
                                  colour, colour_batch.STATUS_COLUMNS)
    errors = [r["error"] for r in results]
    if settings.splice:
        try:
            _, composite = colour_batch.build_composite(settings.folder("colour"), settings.splice)
            errors += [f"{settings.splice}: section {r['section']}: {r['message']}" for r in composite
                       if r["status"] == "failed"]
        except ValueError as error:
            errors.append(str(error))
    pipelines.write_report(settings.output, errors)


def run(input_path: str, settings: Settings, beam_args: list[str]) -> tuple[str, list[str]]:
    """Takes every section photograph of `input_path` through the three stages. Returns (the
    summary line, messages of the bad sections).

    Raises:
        ValueError: no photographs, an unusable output, a bad sections or splice table, or a
            model that cannot be loaded: before any work.
    """
    from coretf.analysis import splice as splice_lib

    paths = coretf_io.list_images(input_path)
    outputs.prepare(settings.output, input_path, first_image=paths[0], bytes_per_pixel=4)
    Tables(settings)  # a bad table stops the run here, in one line
    if settings.splice:
        splice_lib.composite_order(splice_lib.read_splice_table(settings.splice))
    inference.Predictor(settings.model)  # the same for an export that cannot be loaded
    for stage in STAGES:
        os.makedirs(settings.folder(stage), exist_ok=True)
    pipelines.run(list(enumerate(paths)), ProcessSection(settings),
                  functools.partial(_finish, settings=settings), beam_args)
    crops = coretf_io.read_csv(os.path.join(settings.folder("crops"), "crops.csv"))
    counts = {s: sum(r["status"] == s for r in crops) for s in background.STATUSES}
    colour = coretf_io.read_csv(os.path.join(settings.folder("colour"), "colour_record_status.csv"))
    measured = sum(r["status"] in ("ok", "done earlier") for r in colour)
    line = (f"{len(paths)} section(s): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            + f"; {measured} colour record(s) -> {os.path.abspath(settings.output)}")
    return line, outputs.read_report(settings.output)
