"""`python -m coretf.train` that kills itself (SIGKILL, no cleanup) at one batch: for test_resume.py.

    KILL_AT=<epoch>,<batch> python tests/train/killed_run.py --flagfile=... (0-based, as Keras counts)
"""

import os
import signal

import keras

from coretf import runner, train

EPOCH, BATCH = (int(v) for v in os.environ["KILL_AT"].split(","))


class KillAt(keras.callbacks.Callback):
    """Kills the process after the given batch of the given epoch, as `kill -9` would."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (EPOCH, BATCH):
            os.kill(os.getpid(), signal.SIGKILL)


def _with_kill(standard):
    def callbacks(*args, **kwargs):
        listed, best = standard(*args, **kwargs)
        return [*listed, KillAt()], best
    return callbacks


if __name__ == "__main__":
    runner.standard_callbacks = _with_kill(runner.standard_callbacks)
    train.cli()
