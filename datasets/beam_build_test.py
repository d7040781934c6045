"""The manual configs built on Apache Beam (two worker processes) store the plain build's dataset:
the same examples under the same keys, feature for feature; a plain build imports no Beam.

The runner is Beam's FnApiRunner, the engine the DirectRunner of Beam 2.77 falls back to: the
DirectRunner first tries its Prism runner, whose binary it downloads from GitHub, and a test
touches no network.
"""

import os
import pathlib
import subprocess
import sys
import types

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from coretf_datasets import beam_generation
from coretf_datasets.ice_ct import ice_ct_dataset_builder
from coretf_datasets.sediment_cores import sediment_cores_dataset_builder
from coretf_datasets.sediment_grains import sediment_grains_dataset_builder

HERE = pathlib.Path(__file__).parent
BEAM_OPTIONS = ["--runner=FnApiRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
BUILDERS = {"sediment_cores": sediment_cores_dataset_builder.Builder,
            "ice_ct": ice_ct_dataset_builder.Builder,
            "sediment_grains": sediment_grains_dataset_builder.Builder}


def _build(name, data_dir, beam_options=None):
    builder = BUILDERS[name](config="manual", data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(HERE / name / "dummy_data"), beam_options=beam_options))
    return builder


def _stored(builder, split):
    """A split's examples as `tf.train.Example`s in the order TFDS stored them (parsed: the order
    of an example's features in its bytes may differ from one process to another)."""
    files = [os.fspath(path) for path in builder.info.splits[split].filepaths]
    return [tf.train.Example.FromString(record.numpy()) for record in tf.data.TFRecordDataset(files)]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_beam_build_stores_the_plain_builds_examples(name, tmp_path, monkeypatch):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    generate, returned = beam_generation.BeamWhenAsked.generate, []

    def spy(self, items, examples_of):
        returned.append(generate(self, items, examples_of))
        return returned[-1]

    monkeypatch.setattr(beam_generation.BeamWhenAsked, "generate", spy)
    plain = _build(name, tmp_path / "plain")
    assert len(returned) == 3 and all(isinstance(r, types.GeneratorType) for r in returned)
    returned.clear()
    on_beam = _build(name, tmp_path / "beam", PipelineOptions(BEAM_OPTIONS))
    assert len(returned) == 3 and all(isinstance(r, beam.PTransform) for r in returned)
    for split in ("train", "validation", "test"):
        # TFDS stores a split in the order of its keys' hashes, on Beam as in this process: the
        # same examples (every feature's bytes, PNGs included) in the same order are the same
        # examples under the same keys.
        expected = _stored(plain, split)
        assert expected and _stored(on_beam, split) == expected
        assert on_beam.info.splits[split].num_examples == len(expected)


def test_a_plain_build_imports_no_beam(tmp_path):
    script = ("import sys\n"
              "import tensorflow_datasets as tfds\n"
              "from coretf_datasets.sediment_cores import sediment_cores_dataset_builder as scb\n"
              f"builder = scb.Builder(config='manual', data_dir={str(tmp_path)!r})\n"
              "builder.download_and_prepare(download_config=tfds.download.DownloadConfig(\n"
              f"    manual_dir={str(HERE / 'sediment_cores' / 'dummy_data')!r}))\n"
              "assert builder.info.splits['train'].num_examples == 12\n"
              "assert 'apache_beam' not in sys.modules, 'a plain build imported apache_beam'\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
