"""Multi-worker training run for real: two worker processes on 127.0.0.1 (TF_CONFIG,
MultiWorkerMirroredStrategy) end where one process with the same global batch ends; only the
chief writes the model directory; a rerun resumes under the strategy."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.train.test_resume import _arrays

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "train" / "multi_worker_job.py"
FLAGS = ["--job=toy_stream", "--batch_size=8", "--learning_rate=0.05", "--mixed_precision=float32"]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _one_worker(model_dir, epochs):
    result = subprocess.run([sys.executable, str(SCRIPT), *FLAGS, f"--epochs={epochs}", f"--model_dir={model_dir}"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def _two_workers(model_dir, epochs, tmp):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        env = {**os.environ, "TMPDIR": str(tmp),
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, str(SCRIPT), *FLAGS, "--strategy=multi_worker", f"--epochs={epochs}",
             f"--model_dir={model_dir}"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_worker")
    (root / "tmp").mkdir()
    _one_worker(root / "one", epochs=3)
    _two_workers(root / "two", epochs=3, tmp=root / "tmp")
    return root


def _assert_same_training(a, b):
    for name in ("best.weights.h5", "checkpoints/state_003.weights.h5"):
        first, second = _arrays(a / name), _arrays(b / name)
        assert first.keys() == second.keys()
        for key, value in first.items():
            np.testing.assert_allclose(second[key], value, rtol=1e-4, atol=1e-5, err_msg=key)
    one, two = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert one["best_epoch"] == two["best_epoch"] and one["test"] == pytest.approx(two["test"], abs=1e-6)
    assert one["validation"] == pytest.approx(two["validation"], rel=1e-4)


def test_two_workers_end_where_one_worker_with_the_same_global_batch_ends(runs):
    _assert_same_training(runs / "one", runs / "two")


def test_only_the_chief_writes(runs):
    assert (runs / "two" / "export" / "saved_model.pb").exists()
    history = (runs / "two" / "history.csv").read_text().splitlines()
    assert len(history) == 4  # the header and three epochs: one writer
    assert os.listdir(runs / "tmp") == []  # the other worker's own folder is gone


def test_a_rerun_resumes_under_the_strategy(runs, tmp_path):
    _two_workers(tmp_path / "two", epochs=2, tmp=runs / "tmp")
    _two_workers(tmp_path / "two", epochs=3, tmp=runs / "tmp")
    _assert_same_training(runs / "one", tmp_path / "two")
