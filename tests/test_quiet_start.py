"""TensorFlow's C++ start-up banner is quiet unless -v; a real message on stderr still shows."""

import os
import subprocess
import sys

from coretf import _quiet_start

BANNER_WORDS = ("oneDNN custom operations", "Could not find cuda drivers", "cuInit")
PROGRAM = "import coretf, tensorflow as tf; tf.config.list_physical_devices('GPU')"


def test_tensorflow_starts_quietly_and_verbose_shows_the_banner():
    quiet = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and not any(w in quiet.stderr for w in BANNER_WORDS), quiet.stderr
    loud = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CORETF_VERBOSE": "1"})
    assert "oneDNN custom operations" in loud.stderr


def test_the_filter_keeps_what_is_not_a_banner(capfd):
    with _quiet_start.filtered_stderr():
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"
