"""What made an output: coretf's version and git commit, the library versions, the date and the command.

`record()` is written into every model directory's metrics.json, every export's metadata and
every record predict writes, so a figure or a mask can be traced to the code and the command
that made it. Library versions are read from the installed packages' metadata (TensorFlow is not
imported for it); the git commit is known when coretf runs from a checkout.
"""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import os
import shlex
import subprocess
import sys

import coretf


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit (with "+dirty" when files differ from it), or None outside a checkout."""
    folder = os.path.dirname(os.path.abspath(coretf.__file__))
    try:
        commit = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", folder, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


COMMAND_ENV = "CORETF_COMMAND"  # set by a command whose work runs in other processes (Beam workers)


def record() -> dict:
    """{"coretf", "git_commit", "tensorflow", "keras", "python", "date" (UTC, ISO 8601), "command"}.

    The command is this process's, or that in the environment variable COMMAND_ENV (a Beam
    worker's outputs name the `coretf.pipeline` command that started it).
    """
    return {
        "coretf": coretf.__version__,
        "git_commit": git_commit(),
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "python": sys.version.split()[0],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": os.environ.get(COMMAND_ENV) or shlex.join([os.path.basename(sys.executable), *sys.argv]),
    }
