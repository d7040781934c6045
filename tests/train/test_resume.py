"""Deterministic resume: a run killed (SIGKILL) mid-epoch and rerun ends with the weights and the
figures of an uninterrupted run with the same seed."""

import json
import os
import pathlib
import signal
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

from coretf import callbacks as callbacks_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
FLAGS = [f"--flagfile={REPO / 'trainers' / 'smoke.flags'}", "--epochs=3", "--steps_per_epoch=3",
         "--augment=rf", "--image_summaries=0"]


def _train(model_dir, data_dir, kill_at=None):
    script = [str(REPO / "tests" / "train" / "killed_run.py")] if kill_at else ["-m", "coretf.train"]
    env = {"KILL_AT": kill_at} if kill_at else {}
    result = subprocess.run([sys.executable, *script, *FLAGS, f"--model_dir={model_dir}",
                             f"--data_dir={data_dir}"], cwd=REPO, capture_output=True, text=True,
                            timeout=600, env={**os.environ, **env})
    return result


def _arrays(path):
    """Every array in a Keras weights file (weights and optimizer state), by its path in the file."""
    arrays = {}

    def keep(name, item):
        if isinstance(item, h5py.Dataset):
            arrays[name] = item[()]

    with h5py.File(path, "r") as f:
        f.visititems(keep)
    return arrays


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    result = _train(root / "whole", root / "data")
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_and_figures(uninterrupted):
    root = uninterrupted
    killed = _train(root / "killed", root / "data", kill_at="1,1")  # after batch 2 of epoch 2
    assert killed.returncode == -signal.SIGKILL
    state = json.loads((root / "killed" / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 1 and not (root / "killed" / "metrics.json").exists()
    rerun = _train(root / "killed", root / "data")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    whole = json.loads((root / "whole" / "metrics.json").read_text())
    resumed = json.loads((root / "killed" / "metrics.json").read_text())
    # Equal here; the tolerance only absorbs a different float summation order on another CPU
    # (without the exact resume the figures differ in the second decimal).
    figures = lambda m: {k: v for k, v in m["test"].items() if k != "calibration"}  # noqa: E731
    assert figures(resumed) == pytest.approx(figures(whole), rel=1e-5)
    assert resumed["test"]["calibration"]["pixels"] == whole["test"]["calibration"]["pixels"]  # ece: above
    assert resumed["validation"] == pytest.approx(whole["validation"], rel=1e-5)
    assert resumed["final_train_loss"] == pytest.approx(whole["final_train_loss"], rel=1e-5)
    for name in ("best.weights.h5", "checkpoints/state_003.weights.h5"):  # the optimizer's state too
        whole_arrays, resumed_arrays = _arrays(root / "whole" / name), _arrays(root / "killed" / name)
        assert whole_arrays.keys() == resumed_arrays.keys() and len(whole_arrays) > 10
        for key, value in whole_arrays.items():
            np.testing.assert_allclose(resumed_arrays[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert [p.name for p in (root / "killed" / "checkpoints").glob("state_*")] == ["state_003.weights.h5"]


def test_the_state_holds_the_random_generators_that_save_weights_leaves_out(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Dropout(0.5, seed=3)(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "mse")
    state = callbacks_lib.TrainingState(str(tmp_path))
    state.set_model(model)
    model.fit(np.ones((8, 4)), np.ones((8, 4)), epochs=3, batch_size=4, verbose=0, callbacks=[state])
    [generator] = callbacks_lib.seed_states(model)
    other = keras.models.clone_model(model)
    other.compile("adam", "mse")
    assert state.restore(other) == 3 and state.finished_epochs() == 3
    np.testing.assert_array_equal(callbacks_lib.seed_states(other)[0].numpy(), generator.numpy())
    assert int(other.optimizer.iterations.numpy()) == 6
    dense = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    dense.compile("adam", "mse")
    with pytest.raises(ValueError, match="1 random-number generator.* saved, the model has 0"):
        state.restore(dense)
