"""Ice-core slices on Beam: field of view, GMM weak label and Otsu's baseline per slice, the
outputs of `python -m coretf.preprocess.ice_labels --input=...` (`coretf.preprocess.ice_batch`),
file for file, and `thresholds.csv`."""

from __future__ import annotations

import functools
import os

from coretf import outputs, pipelines
from coretf.io import ImageError
from coretf.pipelines import beam
from coretf.preprocess import ice_batch, ice_stack


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


def _finish(messages: list, output: str, stems: list[str]) -> None:
    pipelines.write_report(output, messages)
    ice_stack.write_thresholds(output, stems)


def run(input_path: str, output: str, beam_args: list[str], *, fov: ice_stack.FovSpec = "auto"
        ) -> tuple[str, list[str]]:
    """Labels every slice of `input_path` not done yet. Returns (the summary line, messages of
    the bad slices).

    Raises:
        ValueError: the input cannot be listed, or `output` is unusable (`coretf.outputs`).
    """
    paths = ice_batch.list_inputs(input_path)
    outputs.prepare(output, input_path, first_image=paths[0], bytes_per_pixel=4)
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    done = set(ice_stack.done_slices(output, stems))
    todo = [(k, p) for k, p in enumerate(paths) if k not in done]
    pipelines.run(todo, LabelSlice(output, fov), functools.partial(_finish, output=output, stems=stems), beam_args)
    bad = outputs.read_report(output)
    return (f"labelled {len(todo) - len(bad)} slice(s) ({len(done)} done before) into "
            f"{os.path.abspath(output)}"), bad
