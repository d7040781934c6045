"""Rasterisation of disturbance shapes into a core's label and colour-offset maps.

`rasterize` draws each `Stamp` and `Zone` of `disturbances.generate` into the label map and writes
its colour offset only inside that same shape, so the label is exact ground truth for what the
photograph shows. Shapes are in centimetres and drawn with sub-pixel precision at any resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from coretf.synthetic.disturbances import Layer
from coretf.synthetic.disturbances import Stamp
from coretf.synthetic.disturbances import Zone
from coretf.synthetic.disturbances import zone_span
from coretf.synthetic.disturbances import zone_weight

_SHIFT = 3  # cv2 fixed-point bits: sub-pixel shape positions at any resolution


def rasterize(stamps: list[Stamp], zones: list[Zone], code_map: np.ndarray,
              delta_map: np.ndarray, px_per_cm: float) -> None:
    """Draws zones, then stamps, into the core's label and colour-offset maps in place.

    Args:
      stamps: from `disturbances.generate`.
      zones: from `disturbances.generate`.
      code_map: (Hc, Wc) uint8 map over the core, 0 on entry; receives DISTURBANCE_CODES.
      delta_map: (Hc, Wc, 3) int8, 0 on entry; receives the L*, a*, b* offsets.
      px_per_cm: resolution.
    """
    hc, wc = code_map.shape
    y_cm = ((np.arange(hc) + 0.5) / px_per_cm).astype(np.float32)
    for zone in zones:
        x0, x1 = zone_span(zone)
        c0, c1 = max(0, int(x0 * px_per_cm)), min(wc, int(np.ceil(x1 * px_per_cm)) + 1)
        if c1 <= c0:
            continue
        x_cm = ((np.arange(c0, c1) + 0.5) / px_per_cm).astype(np.float32)
        inside = zone_weight(zone, x_cm, y_cm) > 0
        code_map[:, c0:c1][inside] = zone.code
    for stamp in stamps:
        _draw_stamp(stamp, code_map, delta_map, px_per_cm)


def _draw_stamp(stamp: Stamp, code_map: np.ndarray, delta_map: np.ndarray, p: float) -> None:
    pts = np.concatenate([layer.pts for layer in stamp.layers])
    reach = max(layer.reach() for layer in stamp.layers)
    bx0, by0 = np.floor((pts.min(0) - reach) * p).astype(int) - 2
    bx1, by1 = np.ceil((pts.max(0) + reach) * p).astype(int) + 3
    hc, wc = code_map.shape
    cx0, cy0, cx1, cy1 = max(bx0, 0), max(by0, 0), min(bx1, wc), min(by1, hc)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    # Drawing in a buffer whose origin is a whole pixel keeps the rasterisation identical
    # whatever part of the core is later rendered.
    origin = np.array([bx0, by0], np.float64)
    delta = np.zeros((by1 - by0, bx1 - bx0, 3), np.int8)
    foot = np.zeros((by1 - by0, bx1 - bx0), bool)
    for layer in stamp.layers:
        shape = np.zeros(foot.shape, np.uint8)
        _draw_layer(shape, layer, origin, p)
        sel = shape.astype(bool)
        delta[sel] = np.round(layer.lab).astype(np.int8)
        foot |= sel
    if stamp.blur > 0 or stamp.soft > 0:  # both act only inside the labelled shape
        inside = foot.astype(np.float32)
        delta_f = delta.astype(np.float32)
        if stamp.blur > 0:  # normalised convolution: smooth steps between layers, keep the rim
            sig = stamp.blur * p
            norm = cv2.GaussianBlur(inside, (0, 0), sig)[..., None] + 1e-6
            delta_f = cv2.GaussianBlur(delta_f * inside[..., None], (0, 0), sig) / norm
        if stamp.soft > 0:  # diffuse margins, as burrow fills have
            inner = cv2.distanceTransform(foot.astype(np.uint8), cv2.DIST_L2, 3)
            delta_f *= (0.4 + 0.6 * np.clip(inner / (stamp.soft * p), 0, 1))[..., None]
        delta = np.round(delta_f).astype(np.int8)
    win = (slice(cy0 - by0, cy1 - by0), slice(cx0 - bx0, cx1 - bx0))
    sel = foot[win]
    code_map[cy0:cy1, cx0:cx1][sel] = stamp.code
    delta_map[cy0:cy1, cx0:cx1][sel] = delta[win][sel]


def _draw_layer(img: np.ndarray, layer: Layer, origin: np.ndarray, p: float) -> None:
    f = 1 << _SHIFT
    # OpenCV puts integer coordinates at pixel centres; pixel i spans [i, i + 1) / p cm.
    pts = np.round((layer.pts * p - 0.5 - origin) * f).astype(np.int32)
    if layer.kind == "poly":
        cv2.fillPoly(img, [pts], 1, cv2.LINE_8, _SHIFT)
    elif layer.kind == "line":  # per-segment widths; OpenCV's round caps join the segments
        for a, b, w in zip(pts[:-1], pts[1:], layer.size):
            cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1,
                     max(1, int(round(w * p))), cv2.LINE_8, _SHIFT)
    elif layer.kind == "ellipse":
        axes = np.maximum(np.round(layer.size * p * f), 1).astype(int)
        cv2.ellipse(img, (int(pts[0, 0]), int(pts[0, 1])), (int(axes[0]), int(axes[1])),
                    layer.angle, 0, 360, 1, -1, cv2.LINE_8, _SHIFT)
    elif layer.kind == "dots":
        for (x, y), r in zip(pts, np.round(layer.size * p * f).astype(int)):
            cv2.circle(img, (int(x), int(y)), int(r), 1, -1, cv2.LINE_8, _SHIFT)
    else:
        raise ValueError(f"unknown layer kind {layer.kind!r}")
