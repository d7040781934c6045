"""Writes the small manual-config fixture in dummy_data/ (run once; the output is committed).

Four 160x128 stage positions of synthetic grains in both accepted layouts: two as a folder per
position (sample A), two as `<position>_L<k>.png` files (sample B, one of them 16-bit TIFF).
"""

import pathlib

from coretf import io as coretf_io
from coretf.synthetic import grains

HERE = pathlib.Path(__file__).parent / "dummy_data"


def main() -> None:
    for index in range(4):
        made = grains.make_photo_set(index, seed=7, height=128, width=160, num_particles=(3, 4))
        for layer, image in enumerate(made.layers):
            if index < 2:
                path = HERE / "A" / made.position_id / f"focus{layer}.png"
            else:
                suffix = "tif" if index == 3 else "png"
                path = HERE / "B" / f"{made.position_id}_L{layer + 1}.{suffix}"
            coretf_io.write_image(path, image.astype("uint16") * 257 if index == 3 else image)


if __name__ == "__main__":
    main()
