"""Output folders of the batch commands: checked before any work, cleared of a killed run's
temporary files.

    outputs.prepare(FLAGS.output, FLAGS.input, first_image=files[0])  # ValueError: one line

`prepare` refuses (ValueError naming the flag and the folder) an output folder that is the input
folder, that cannot be created, that the user cannot write to, or whose disk has less free space
than the first item's outputs need; then it removes the temporary files an interrupted run left
(`coretf.io.atomic_path` and `atomic_dir` name them `.<name>.<random>.tmp[.<suffix>]` beside
their final names), so that nothing half-written survives a kill -9 and a rerun.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator

from coretf import io as coretf_io

# `.<name>.<8 random characters>.tmp` and `.<name>.<random>.tmp.<suffix>` (mkstemp / mkdtemp).
REPORT = "errors.txt"  # a batch's bad items, one message per line, beside its outputs
TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)*$")


def check_not_input(output: str, input_path: str, flag: str = "--output", *,
                    recursive: bool = False) -> None:
    """Refuses an output folder that is the input folder (or the folder of the input file), or,
    for a command that reads its input folder's subfolders (`recursive`), inside it: the next run
    would read the outputs as inputs (or they would overwrite them).

    Raises:
        ValueError: naming the flag.
    """
    source = os.path.realpath(input_path if os.path.isdir(input_path) else os.path.dirname(input_path) or ".")
    target = os.path.realpath(output)
    if target == source:
        raise ValueError(f"{flag}={output} is the input folder; give a folder of its own "
                         "(the next run would read the outputs as inputs)")
    if recursive and target.startswith(source + os.sep):
        raise ValueError(f"{flag}={output} is inside the input folder, whose subfolders are read; "
                         "give a folder outside it")


def prepare(output: str, input_path: str | None = None, *, first_image: str | None = None,
            bytes_per_pixel: float = 8.0, flag: str = "--output", recursive: bool = False) -> int:
    """Checks `output` before a batch starts and removes stale temporary files from it.

    Args:
        output: the output folder (created if missing).
        input_path: the input file or folder, which `output` must not be.
        first_image: the first input image; its declared pixel count times `bytes_per_pixel`
            is the free space required (a mask, a float32 map and a preview: ~8 bytes/px).
        bytes_per_pixel: output bytes per input pixel.
        flag: the flag named in messages.
        recursive: the command reads the input folder's subfolders (see `check_not_input`).

    Returns:
        The number of stale temporary files and folders removed.

    Raises:
        ValueError: one line naming the flag, the folder and the problem.
    """
    if input_path is not None:
        check_not_input(output, input_path, flag, recursive=recursive)
    try:
        os.makedirs(output, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{flag}={output}: cannot be created ({error.strerror or error})") from None
    if not os.path.isdir(output):
        raise ValueError(f"{flag}={output}: exists and is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=output, prefix=".coretf-write-check."):
            pass
    except OSError as error:
        raise ValueError(f"{flag}={output}: cannot be written to ({error.strerror or error})") from None
    if first_image is not None:
        need = _needed_bytes(first_image, bytes_per_pixel)
        free = shutil.disk_usage(output).free
        if need > free:
            raise ValueError(f"{flag}={output}: {free / 1e6:,.0f} MB free, the first item "
                             f"({os.path.basename(first_image)}) alone needs about {need / 1e6:,.0f} MB")
    return remove_temporaries(output)


def _needed_bytes(image: str, bytes_per_pixel: float) -> float:
    with open(image, "rb") as f:
        head = f.read(1 << 20)
    shape = coretf_io.declared_shape(head, image, image)
    if shape is None:  # the reader will report the file; the check cannot say more
        return 0.0
    height, width, planes = shape
    return height * width * planes * bytes_per_pixel


def remove_temporaries(folder: str) -> int:
    """Removes the temporary files and folders interrupted runs left under `folder`."""
    removed = 0
    for root, dirs, files in os.walk(folder):
        for name in files:
            if TEMPORARY.match(name):
                os.remove(os.path.join(root, name))
                removed += 1
        for name in [d for d in dirs if TEMPORARY.match(d)]:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            dirs.remove(name)
            removed += 1
    return removed


@contextlib.contextmanager
def one_item(paths: Iterable[str]) -> Iterator[None]:
    """One item's outputs appear together or not at all: an exception inside (a check that fails
    after some outputs were written, a full disk) removes every one of `paths` that exists, so
    nothing of a failed item is left and a rerun redoes it. `paths` may be a list that the block
    extends as it writes. Each file is itself written atomically (`coretf.io.atomic_path`); write
    the one whose presence marks the item done last.
    """
    try:
        yield
    except BaseException:
        for path in list(paths):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        raise


def disk_full(error: BaseException) -> bool:
    """The output disk is full (ENOSPC): a batch stops there rather than fail every item after."""
    return isinstance(error, OSError) and error.errno == errno.ENOSPC


def stopped(path: str | os.PathLike, output: str) -> str:
    """The report line of the item at which a full output disk stopped the batch."""
    return f"{os.fspath(path)}: no space left on the output disk ({output}); batch stopped"


def item_error(path: str | os.PathLike, error: BaseException) -> str:
    """The report line of one failed item of a batch: the error's message if it names the file,
    else the file, the exception's type and its message (an error nobody foresaw, still named)."""
    path, message = os.fspath(path), str(error)
    if path in message or os.path.basename(path) in message:
        return message
    return f"{path}: {type(error).__name__}: {message}"


def write_report(folder: str, messages: list[str]) -> None:
    """`<folder>/errors.txt`: one line per message, in the order given, atomically; without
    messages an earlier run's report is removed (nothing stale is left)."""
    path = os.path.join(folder, REPORT)
    if messages:
        coretf_io.write_text(path, "\n".join(messages) + "\n")
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def read_report(folder: str) -> list[str]:
    """The messages of `<folder>/errors.txt` (none when there is no report)."""
    path = os.path.join(folder, REPORT)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()
