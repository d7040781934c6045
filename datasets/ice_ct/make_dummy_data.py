"""Writes the small manual-config fixture in dummy_data/ (run once; the output is committed).

Two specimens that exercise the accepted forms: `A`, 8-bit PNG slices (96^2 high, 48^2 low,
12 + 6 slices) with one all-black high-res slice (its low-res slice 1 is skipped), and `B`,
16-bit TIFF slices with odd high-res sides (65^2 high, 32^2 low, 8 + 4 slices), both scanned from
synthetic specimens (`coretf.synthetic.ice`). File names number the slices without zero padding
(s2 before s10).
"""

import pathlib

import numpy as np

from coretf import io as coretf_io
from coretf.synthetic import ice

HERE = pathlib.Path(__file__).parent / "dummy_data"
TABLE = """\
specimen,high_voxel_um,low_voxel_um,weight_g,height_mm,diameter_mm
A,30,60,0.0121,0.3,2.5
B,29.1,58.2,0.0049,0.24,1.6
"""


def main():
    firn = ice.make_specimen(1, size=96, slices=12, seed=7)
    for z in range(12):
        image = np.zeros((96, 96), np.uint8) if z == 2 else firn.high_slice(z)
        coretf_io.write_image(HERE / "A" / "high" / f"s{z}.png", image)
    for k in range(6):
        coretf_io.write_image(HERE / "A" / "low" / f"s{k}.png", firn.low_slice(k))
    snow = ice.make_specimen(0, size=64, slices=8, seed=7)
    for z in range(8):
        high = np.pad(snow.high_slice(z), ((0, 1), (0, 1)), mode="edge").astype(np.uint16) * 257
        coretf_io.write_image(HERE / "B" / "high" / f"b{z}.tif", high)
    for k in range(4):
        coretf_io.write_image(HERE / "B" / "low" / f"b{k}.tif", snow.low_slice(k).astype(np.uint16) * 257)
    (HERE / "specimens.csv").write_text(TABLE)


if __name__ == "__main__":
    main()
