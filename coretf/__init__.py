"""coretf: TensorFlow/Keras toolkit that turns geoscience images into measurements."""

import os

# TensorFlow runs its oneDNN CPU kernels by default only on CPUs with AVX-512 VNNI/BF16 or AMX
# and falls back to Eigen's elsewhere. On a 2-core AVX2 CPU (AMD EPYC) oneDNN trained SegNet-Basic
# about 10 % faster and ran inference about 20 % faster (scripts/benchmark_segmentation.py
# --onednn=on,tf_default). This only takes effect when coretf is imported before TensorFlow, as
# every `python -m coretf.<tool>` is; an explicit TF_ENABLE_ONEDNN_OPTS of the user's is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# TensorFlow's C++ INFO lines (the oneDNN and CPU-feature banners) would bury the progress bars;
# warnings and errors still show. (The CUDA-stub lines come before TensorFlow reads this.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
