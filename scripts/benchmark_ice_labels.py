"""Times the weak-label pipeline on one decoded 4096 x 4096 slice and prints JSON.

    python scripts/benchmark_ice_labels.py [--size=4096] [--repeats=7] [--reference]

The slice is a synthetic compacted-firn scan (`coretf.synthetic.ice`) at the paper's 4096^2;
file reading is not timed. Timed: `label_slice` (3x3 median, field-of-view detection,
normalisation, the histogram GMM and Otsu, the masks). `--reference` also times the paper's
method, scikit-learn's GaussianMixture fitted on every field-of-view pixel, and reports how far
its threshold is from ours in grey levels.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

import numpy as np
from absl import app, flags

from coretf.preprocess import ice_slices
from coretf.synthetic import ice

flags.DEFINE_integer("size", 4096, "Slice side in px.")
flags.DEFINE_integer("repeats", 7, "Timed runs (after one warm-up).")
flags.DEFINE_boolean("reference", False, "Also time scikit-learn's GaussianMixture on all pixels.")
FLAGS = flags.FLAGS


def reference_threshold(labels: ice_slices.SliceLabels) -> tuple[float, int]:
    """Seconds for the paper's full scikit-learn fit, and its first grey level labelled ice."""
    from sklearn.mixture import GaussianMixture

    pixels = labels.image[labels.fov_mask].reshape(-1, 1).astype(np.float64)
    start = time.perf_counter()
    gmm = GaussianMixture(2, covariance_type="tied", init_params="kmeans", random_state=0).fit(pixels)
    predicted = gmm.predict(np.arange(ice_slices.LEVELS, dtype=np.float64).reshape(-1, 1))
    seconds = time.perf_counter() - start
    return seconds, int(np.argmax(predicted == int(np.argmax(gmm.means_.ravel()))))


def main(argv):
    del argv
    start = time.perf_counter()
    specimen = ice.make_specimen(1, size=FLAGS.size, slices=2)
    image = specimen.high_slice(0)
    made = time.perf_counter() - start
    ice_slices.label_slice(image)  # warm-up
    times = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        labels = ice_slices.label_slice(image)
        times.append(time.perf_counter() - start)
    result = {
        "slice": f"synthetic compacted firn, {image.shape[0]}x{image.shape[1]} {image.dtype}",
        "seconds_median": statistics.median(times),
        "seconds_min": min(times),
        "seconds_max": max(times),
        "repeats": FLAGS.repeats,
        "gmm_threshold": labels.gmm_threshold,
        "otsu_threshold": labels.otsu_threshold,
        "fov_pixels": int(labels.fov_mask.sum()),
        "synthesis_seconds": made,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    if FLAGS.reference:
        seconds, first_ice = reference_threshold(labels)
        result.update(reference_seconds=seconds, reference_first_ice_level=first_ice,
                      first_ice_level=int(np.floor(labels.gmm_threshold)) + 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main)
