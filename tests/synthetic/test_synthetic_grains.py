"""Synthetic grain photo sets: deterministic, exact boxes, every type, focus varies by layer."""

import numpy as np

from coretf.synthetic import grains


def test_photo_set_is_deterministic_with_boxes_inside_the_frame():
    a = grains.make_photo_set(3, height=128, width=160, num_particles=(3, 5))
    b = grains.make_photo_set(3, height=128, width=160, num_particles=(3, 5))
    np.testing.assert_array_equal(a.layers, b.layers)
    assert a.layers.shape == (6, 128, 160, 3) and a.layers.dtype == np.uint8
    assert len(a.boxes) == len(a.types) >= 3
    assert np.all(a.boxes[:, :2] >= 0) and np.all(a.boxes[:, 2] <= 128) and np.all(a.boxes[:, 3] <= 160)
    assert np.all(a.boxes[:, 2:] > a.boxes[:, :2])


def test_types_chopped_touch_the_frame_and_the_plate_is_green():
    types, touching, chopped = [], [], []
    for index in range(12):
        made = grains.make_photo_set(index, height=128, width=160, num_particles=(4, 6))
        types += list(made.types)
        edge = (made.boxes[:, 0] == 0) | (made.boxes[:, 1] == 0) | (made.boxes[:, 2] == 128) | (made.boxes[:, 3] == 160)
        chopped += list(edge[made.types == grains.TYPES.index("chopped")])
        touching += list(edge[made.types != grains.TYPES.index("chopped")])
    assert set(types) == set(range(len(grains.TYPES)))
    assert all(chopped) and not any(touching)
    corner = grains.make_photo_set(0).layers[0, :4, :4].reshape(-1, 3).mean(0)
    assert corner[1] > 120 and corner[0] < 70  # the bright green plate (vignetted corner)


def test_each_particle_is_sharp_in_some_layer_and_blurred_in_others():
    made = grains.make_photo_set(1, height=256, width=320, num_particles=(5, 6))
    import cv2

    y0, x0, y1, x1 = made.boxes[0]
    sharpness = [cv2.Laplacian(cv2.cvtColor(layer[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY), cv2.CV_32F).var()
                 for layer in made.layers]
    assert max(sharpness) > 1.5 * min(sharpness)
