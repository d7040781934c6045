"""coretf: TensorFlow/Keras toolkit that turns geoscience images into measurements."""

import os
import sys

__version__ = "0.2.0"

# TensorFlow runs its oneDNN CPU kernels by default only on CPUs with AVX-512 VNNI/BF16 or AMX
# and falls back to Eigen's elsewhere. On a 2-core AVX2 CPU (AMD EPYC) oneDNN trained SegNet-Basic
# about 10 % faster and ran inference about 20 % faster (scripts/benchmark_segmentation.py
# --onednn=on,tf_default). This only takes effect when coretf is imported before TensorFlow, as
# every `python -m coretf.<tool>` is; an explicit TF_ENABLE_ONEDNN_OPTS of the user's is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _verbose() -> bool:
    """-v / --verbosity on the command line (absl's flag), or CORETF_VERBOSE=1."""
    return os.environ.get("CORETF_VERBOSE") == "1" or any(
        arg == "-v" or arg.startswith(("-v=", "--verbosity", "-v1", "-v2")) for arg in sys.argv[1:])


if not _verbose():
    # TensorFlow's C++ start-up lines (the oneDNN banner, "Could not find cuda drivers", "failed
    # call to cuInit" on a machine without a GPU) would bury the progress bars; -v shows them.
    # Python errors are still raised; only the C++ log lines go.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from coretf import _quiet_start

    _quiet_start.install()
