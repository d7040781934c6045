"""k-fold cross-validation (--folds): whole groups per fold, one model per fold, mean and SD."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from coretf import runner
from coretf.data import builders
from coretf.jobs.sediment_cores import CoresConfig


def test_groups_are_shared_out_whole():
    sections = [(f"S{i}",) for i in range(7)]
    assignment = builders.fold_of_groups(sections * 3, folds=3, fold=1)  # repeats: patches of a section
    assert [g for g, s in assignment.items() if s == "test"] == [("S1",), ("S4",)]
    assert [g for g, s in assignment.items() if s == "validation"] == [("S2",), ("S5",)]
    for fold in range(3):  # every section is tested exactly once over the folds
        tested = [g for g, s in builders.fold_of_groups(sections, 3, fold).items() if s == "test"]
        assert len(tested) in (2, 3)
    slices = [("snow", i) for i in range(10)] + [("firn", i) for i in range(5)]
    depth = builders.fold_of_groups(slices, folds=5, fold=4, by="depth")
    assert [i for (item, i), s in sorted(depth.items()) if item == "snow" and s == "test"] == [8, 9]
    assert [i for (item, i), s in sorted(depth.items()) if item == "firn" and s == "validation"] == [0]
    with pytest.raises(ValueError, match="--folds=2: k-fold cross-validation needs at least 3 folds"):
        builders.fold_of_groups(sections, 2, 0)
    with pytest.raises(ValueError, match="--folds=9: the data has only 7 items"):
        builders.fold_of_groups(sections, 9, 0)


def test_three_folds_of_the_core_sections_through_the_runner(tmp_path):
    """synthetic_tiny has three sections: each fold tests one, validates one, trains on one."""
    config = CoresConfig(dataset="synthetic_tiny", data_dir=str(tmp_path / "data"), filters=(4,), depth=2,
                         batch_size=2, epochs=1, steps_per_epoch=1, image_summaries=2, folds=3,
                         mixed_precision="float32")
    metrics = runner.train_and_evaluate(config, str(tmp_path / "model"))
    assert metrics["folds"] == 3 and metrics["fold_dirs"] == ["fold_0", "fold_1", "fold_2"]
    per_fold = [json.loads((tmp_path / "model" / d / "metrics.json").read_text()) for d in metrics["fold_dirs"]]
    ious = [m["test"]["patch_iou"] for m in per_fold]
    assert metrics["mean"]["test"]["patch_iou"] == pytest.approx(np.mean(ious))
    assert metrics["sd"]["test"]["patch_iou"] == pytest.approx(np.std(ious))
    assert json.loads((tmp_path / "model" / "metrics.json").read_text()) == metrics
    for name in ("fold_0/export/saved_model.pb", "fold_2/model.keras", "export/saved_model.pb"):
        assert (tmp_path / "model" / name).exists(), name
    from coretf import serving

    assert serving.load(str(tmp_path / "model" / "export")).metadata["members"] == 3  # the folds' ensemble
    # the folds test each section once, and a fold's splits never share a section
    builder = builders.get_builder("sediment_cores", "synthetic_tiny", str(tmp_path / "data"))
    tested = []
    for fold in range(3):
        folds = builders.Folds(builder, 3, fold, keys=("section_id",))
        seen = {s: {e["section_id"] for e in tfds.as_numpy(folds.as_dataset(split=s))} for s in builders.SPLITS}
        assert all(len(ids) == 1 for ids in seen.values()) and len(set.union(*seen.values())) == 3
        assert builders.split_size(folds, "test") == builder.info.splits["train"].num_examples  # 8 patches each
        tested += list(seen["test"])
    assert sorted(tested) == [b"S0000", b"S0001", b"S0002"]


def test_rock_folds_hold_out_a_block_of_each_training_stacks_slices(tmp_path):
    import pathlib

    from coretf.jobs.rock_ct import RockConfig

    dummy = pathlib.Path(__file__).resolve().parents[2] / "datasets" / "rock_ct" / "dummy_data"
    config = RockConfig(dataset="manual", manual_dir=str(dummy), data_dir=str(tmp_path / "data"), filters=(4,),
                        depth=2, activation="elu", batch_size=2, epochs=1, steps_per_epoch=1,
                        rock_patch_size=32, rock_train_stacks=("carbonate_a", "soil_a"), folds=3,
                        mixed_precision="float32")
    metrics = runner.train_and_evaluate(config, str(tmp_path / "model"))
    fold_1 = json.loads((tmp_path / "model" / "fold_1" / "metrics.json").read_text())
    stacks = fold_1["stacks"]
    assert stacks["carbonate_a_holdout"]["slices"] == 1 and not stacks["carbonate_a_holdout"]["in_sample"]
    assert stacks["carbonate_a"]["slices"] == 2 and stacks["carbonate_a"]["in_sample"]
    assert fold_1["train_slices"] == {"carbonate_a": 1, "soil_a": 1}
    assert metrics["sd"]["out_of_sample_mean"]["iou"] is not None
