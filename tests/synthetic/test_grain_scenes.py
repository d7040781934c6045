"""Varied green-plate photo sets: deterministic, a true box per visible particle, every kind,
overlaps and frame cuts flagged, the light varies; the builder's generator is left as it was."""

import hashlib

import numpy as np

from coretf.synthetic import grain_scenes
from coretf.synthetic import grains


def test_varied_set_is_deterministic_with_boxes_inside_the_frame():
    a = grain_scenes.make_varied_photo_set(4, height=256, width=320)
    b = grain_scenes.make_varied_photo_set(4, height=256, width=320)
    np.testing.assert_array_equal(a.layers, b.layers)
    assert a.layers.shape == (6, 256, 320, 3) and a.layers.dtype == np.uint8
    n = len(a.boxes)
    assert n >= 3 and a.kinds.shape == a.overlapping.shape == a.cut.shape == (n,)
    assert np.all(a.boxes[:, :2] >= 0) and np.all(a.boxes[:, 2] <= 256) and np.all(a.boxes[:, 3] <= 320)
    assert np.all(a.boxes[:, 2:] > a.boxes[:, :2])
    assert grain_scenes.make_varied_photo_set(4, height=256, width=320, num_layers=1).layers.shape == (1, 256, 320, 3)


def _intersects(box, others):
    return any(min(box[2], o[2]) >= max(box[0], o[0]) and min(box[3], o[3]) >= max(box[1], o[1]) for o in others)


def test_kinds_overlaps_and_cuts_are_flagged_truthfully():
    kinds, overlapping, cut = [], 0, 0
    for index in range(10):
        made = grain_scenes.make_varied_photo_set(index, height=256, width=320)
        kinds += list(made.kinds)
        for i, box in enumerate(made.boxes):
            others = np.delete(made.boxes, i, axis=0)
            if made.overlapping[i]:  # an overlapping particle's box meets or touches another's
                overlapping += 1
                assert _intersects(box, others)
            if made.cut[i]:  # a cut particle's box reaches the frame
                cut += 1
                assert box[0] == 0 or box[1] == 0 or box[2] == 256 or box[3] == 320
    assert set(kinds) == set(range(len(grain_scenes.KINDS)))
    assert overlapping >= 20 and cut >= 5


def test_light_and_sizes_vary_between_sets():
    scenes = [grain_scenes.make_varied_photo_set(i, height=128, width=160).scene for i in range(8)]
    for key in ("gradient", "vignette", "exposure", "size", "coverage", "overlap_share"):
        assert np.ptp([s[key] for s in scenes]) > 0.1 * np.mean([s[key] for s in scenes]), key
    # The set with the steepest gradient: the plate is brighter on the lit side (where the light
    # factor is largest) than on the other, by more than the vignetting alone would give.
    index = int(np.argmax([s["gradient"] - s["vignette"] / 2 for s in scenes]))
    made = grain_scenes.make_varied_photo_set(index, height=128, width=160)
    angle = made.scene["gradient_angle"]
    yy, xx = np.mgrid[0:128, 0:160]
    along = np.cos(angle) * (xx - 80) / 80 + np.sin(angle) * (yy - 64) / 64
    green = made.layers[0, ..., 1].astype(float)
    plate = green > np.percentile(green, 30)  # leave particles (darker in green) out
    lit, dim = green[plate & (along > 0.5)].mean(), green[plate & (along < -0.5)].mean()
    assert lit > dim * (1 + made.scene["gradient"] * 0.5)


def test_the_builders_generator_is_unchanged():
    made = grains.make_photo_set(0, height=256, width=320, num_particles=(5, 7))
    assert hashlib.sha256(made.layers.tobytes()).hexdigest()[:16] == "494c88a810b68df5"
