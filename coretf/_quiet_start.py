"""Importing TensorFlow without its C++ start-up banner.

TensorFlow's shared libraries log a few lines while they load, before TF_CPP_MIN_LOG_LEVEL is
read ("WARNING: All log messages before absl::InitializeLog() ...", the oneDNN banner, "Could not
find cuda drivers on your machine"). `install` puts an import hook in front of the first
`import tensorflow`: while TensorFlow loads, the process's standard error goes to a temporary
file, and afterwards every line of it that is not one of those banners is written back, so a
real message is not lost. The hook removes itself after that one import.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

BANNERS = re.compile(r"All log messages before absl::InitializeLog|oneDNN custom operations are on|"
                     r"Could not find cuda drivers|TensorFlow binary is optimized|To enable the following "
                     r"instructions|rebuild TensorFlow with the appropriate compiler flags")


@contextlib.contextmanager
def filtered_stderr():
    """Sends file descriptor 2 to a temporary file, then writes back what is not a banner."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                    if not BANNERS.search(line)]
            if kept:
                sys.stderr.write("".join(kept))


class _QuietImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once, and the real finders do the finding
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec(module):
            with filtered_stderr():
                exec_module(module)

        spec.loader.exec_module = quiet_exec
        return spec


def install() -> None:
    """Puts the hook in front of the next `import tensorflow` (nothing if it is imported already)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
