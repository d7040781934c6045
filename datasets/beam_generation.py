"""Examples generated one work item at a time, on Apache Beam when the build is given Beam options.

A lab's manual folder can be more than one process builds in good time: hundreds of ~45 Mpx core
sections, CT stacks of thousands of slices, thousands of photo sets. TFDS builds a split from
whatever `_generate_examples` returns: a plain generator in this process, or a `beam.PTransform`
on the runner of the build's Beam options (`tfds build ... --beam_pipeline_options=...`, or
`tfds.download.DownloadConfig(beam_options=..., beam_runner=...)`; see
https://www.tensorflow.org/datasets/beam_datasets). A builder names its unit of work (a section,
a specimen, a photo set) and the one function that yields an item's (key, example) pairs;
`BeamWhenAsked.generate` hands TFDS either form of that same function, so both builds store the
same examples under the same keys. Beam is imported only for a Beam build.

Beam pickles the items and the function for its workers, which import the function's module by
name: build with `tfds build <name> --imports=coretf_datasets.<name>` for worker processes or
machines (a builder loaded from its file, `tfds build datasets/<name>`, is importable only in the
process that loaded it, so it suits the in-process runners alone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import tensorflow_datasets as tfds

KeyExample = tuple[str, dict]


class BeamWhenAsked:
    """Mixin for a `tfds.core.GeneratorBasedBuilder` whose examples are generated on Beam when the
    build is given Beam options or a Beam runner.

    TFDS hands the build's `DownloadConfig` to `_download_and_prepare`, which generates the
    splits, and to no method a builder writes; the mixin notes there whether Beam was asked for.
    """

    on_beam: bool = False

    def _download_and_prepare(self, dl_manager, download_config):
        self.on_beam = download_config.beam_options is not None or download_config.beam_runner is not None
        return super()._download_and_prepare(dl_manager, download_config)

    def generate(self, items: Sequence[Any], examples_of: Callable[[Any], Iterable[KeyExample]]):
        """The (key, example) pairs of every item, in the form `_generate_examples` returns to TFDS.

        Args:
            items: the split's work items, in order (picklable: Beam sends them to its workers).
            examples_of: yields one item's (key, example) pairs; a module-level function or a
                `functools.partial` of one, so that Beam can pickle it.

        Returns:
            A generator over the items in this process without Beam options; with them, the
            `beam.PTransform` `Create(items) | FlatMap(examples_of)`, one element per item. TFDS
            stores a split in the order of its keys' hashes either way.
        """
        if not self.on_beam:
            return _chain(items, examples_of)
        beam = tfds.core.lazy_imports.apache_beam
        return beam.Create(list(items)) | beam.FlatMap(examples_of)


def _chain(items: Sequence[Any], examples_of: Callable[[Any], Iterable[KeyExample]]) -> Iterator[KeyExample]:
    for item in items:
        yield from examples_of(item)
