"""Tests of the widened section photographs (coretf.synthetic.section_photos): layout, truth box,
orientation, pixel budget, tray colours."""

import dataclasses

import cv2
import numpy as np
import pytest

from coretf.synthetic import section_photos as sp


def _conditions(**changes):
    c = sp.draw_conditions(np.random.default_rng(3), px_per_cm=(25.0, 25.0), max_pixels=1e6,
                           tray="dark", depth_axis="x")
    return dataclasses.replace(c, **changes)


def _lightness(image):
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 0]


def test_truth_box_is_the_painted_core_and_deterministic():
    c = _conditions(card_end="top", scale_bar="base", liner=True, top_first=True)
    photo = sp.make_photo(2, c, seed=1)
    x0, y0, x1, y1 = photo.core_box
    assert (x1 - x0, y1 - y0) == (round(c.length_cm * 25), round(c.core_width_cm * 25))
    # The card lies before the core top, the liner edges just outside the box across it.
    assert x0 > round(6.0 * 25) and x1 < photo.image.shape[1]
    light = _lightness(photo.image)
    core = np.median(light[y0 + 5:y1 - 5, x0:x1])
    liner = np.median(light[y0 - 5:y0 - 1, x0:x1])
    tray = np.median(light[y0 - round(0.25 * 25) - 4:y0 - round(0.25 * 25) - 1, x0:x1])
    assert liner > tray + 15 and tray < core - 15  # a dark tray, a lighter liner edge
    no_liner = sp.make_photo(2, dataclasses.replace(c, liner=False), seed=1)
    assert no_liner.core_box[1] == y0 - round(0.25 * 25)  # the liner's place is tray now
    assert np.median(_lightness(no_liner.image)[no_liner.core_box[1] - 4:no_liner.core_box[1] - 1,
                                                x0:x1]) < core - 15
    np.testing.assert_array_equal(photo.image, sp.make_photo(2, c, seed=1).image)
    assert not np.array_equal(photo.image, sp.make_photo(3, c, seed=1).image)


def test_depth_along_y_and_core_top_last_are_flips_of_the_same_photo():
    c = _conditions(top_first=True)
    along_x = sp.make_photo(0, c)
    along_y = sp.make_photo(0, dataclasses.replace(c, depth_axis="y"))
    np.testing.assert_array_equal(along_y.image, along_x.image.transpose(1, 0, 2))
    x0, y0, x1, y1 = along_x.core_box
    assert along_y.core_box == (y0, x0, y1, x1)
    reversed_ = sp.make_photo(0, dataclasses.replace(c, top_first=False))
    np.testing.assert_array_equal(reversed_.image, along_x.image[:, ::-1])
    width = along_x.image.shape[1]
    assert reversed_.core_box == (width - x1, y0, width - x0, y1)


@pytest.mark.parametrize("tray", sp.TRAYS)
def test_trays_and_budget(tray):
    rng = np.random.default_rng(7)
    for _ in range(5):
        c = sp.draw_conditions(rng, px_per_cm=(20.0, 200.0), max_pixels=4e6, tray=tray)
        assert c.tray == tray and 20.0 <= c.px_per_cm <= 200.0
        assert c.length_cm >= 2.5 * c.core_width_cm  # the core stays the long object
        across = c.core_width_cm + sum(c.margin_cm) + 1.6 + (1.2 if c.scale_bar == "along" else 0)
        ends = sum(c.end_gap_cm) + 7.0 * (c.card_end != "none") + 4.0 * (c.scale_bar in ("top", "base"))
        if c.length_cm > 2.5 * c.core_width_cm + 1e-9:  # within the budget unless at the minimum
            assert (c.length_cm + ends) * across * c.px_per_cm ** 2 <= 4e6 * (1 + 1e-9)
    c = sp.draw_conditions(np.random.default_rng(1), px_per_cm=(30.0, 30.0), max_pixels=1e6,
                           tray=tray, depth_axis="x")
    c = dataclasses.replace(c, sediment_shift=(0.0, 0.0, 0.0), light_gradient=0.0, vignetting=0.0,
                            card_end="none", scale_bar="none", liner=False)
    photo = sp.make_photo(1, c)
    assert photo.image.shape[0] * photo.image.shape[1] <= 1e6 * 1.05
    x0, y0, x1, y1 = photo.core_box
    light = _lightness(photo.image)
    core, tray_l = np.median(light[y0:y1, x0:x1]), np.median(light[y0:y1, :x0 - 2])
    if tray == "light":
        assert tray_l > core + 15  # lighter than the sediment: the paper's middle class fails
    elif tray == "dark":
        assert tray_l < core - 15
    if tray == "blue":
        b = cv2.cvtColor(photo.image[y0:y1, :x0 - 2].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 2]
        assert np.median(b) < -15
