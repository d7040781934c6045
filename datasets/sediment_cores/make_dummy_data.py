"""Writes the small manual-config fixture in dummy_data/ (run once; the output is committed).

Five sections that exercise every accepted form: RGBA PNG, RGB JPEG with a mask PNG, 16-bit
RGBA TIFF, a section whose depth runs down the image (depth_axis y) and an inverted label.
Smooth colours keep the files small.
"""

import pathlib

import numpy as np

from coretf import io as coretf_io

HERE = pathlib.Path(__file__).parent / "dummy_data"


def _section(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    bands = 0.5 + 0.2 * np.sin(x / (7 + seed)) + 0.1 * np.cos(y / 11)
    rgb = np.stack([bands * 200, bands * 170, bands * 130], -1).astype(np.uint8)
    mask = np.ones((height, width), np.uint8)
    for _ in range(3):  # dark elliptical "burrows", labelled disturbed
        cy, cx, r = rng.integers(10, height - 10), rng.integers(10, width - 10), rng.integers(4, 9)
        inside = (y - cy) ** 2 + ((x - cx) / 1.5) ** 2 < r**2
        rgb[inside] = (60, 50, 40)
        mask[inside] = 0
    mask[:6] = 0  # tray strip along the core: background
    return rgb, mask


def main() -> None:
    HERE.mkdir(exist_ok=True)
    rows = ["section,px_per_cm,top_depth_cm,depth_axis,top_px,invert_label"]
    rgb, mask = _section(130, 300, 0)
    coretf_io.write_image(HERE / "A-01.png", np.dstack([rgb, mask * 255]))
    rows.append("A-01,20.0,0.0,x,0,")
    rgb, mask = _section(140, 260, 1)
    coretf_io.write_image(HERE / "A-02.jpg", rgb)
    coretf_io.write_image(HERE / "A-02_mask.png", mask * 255)
    rows.append("A-02,20.0,15.0,x,4,")
    rgb, mask = _section(130, 200, 2)
    coretf_io.write_image(HERE / "A-03.tif", np.dstack([rgb, mask * 255]).astype(np.uint16) * 257)
    rows.append("A-03,20.0,28.0,x,0,")
    rgb, mask = _section(130, 280, 3)
    coretf_io.write_image(HERE / "A-04.png", np.dstack([rgb, mask * 255]).transpose(1, 0, 2))
    rows.append("A-04,20.0,38.0,y,0,")
    rgb, mask = _section(130, 150, 4)
    coretf_io.write_image(HERE / "A-05.png", np.dstack([rgb, (1 - mask) * 255]))
    rows.append("A-05,20.0,52.0,x,0,true")
    (HERE / "sections.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
