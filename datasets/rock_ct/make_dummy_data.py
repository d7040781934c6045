"""Writes the small manual-config fixture in dummy_data/ (run once; the output is committed).

Four stacks that exercise every accepted form: 8-bit PNG slices with 0/255 labels (carbonate_a),
8-bit PNG with 0/1 labels and only two slices (carbonate_b), 16-bit TIFF slices (soil_a) and a
sandstone stack whose slices are not square (sandstone_a). Cut from synthetic stacks.
"""

import pathlib

import numpy as np

from coretf import io as coretf_io
from coretf.synthetic import rocks

HERE = pathlib.Path(__file__).parent / "dummy_data"
# stack name in the fixture -> (synthetic source stack, slices, height, width, format)
STACKS = {
    "carbonate_a": ("carbonate_1", 3, 64, 72, "png255"),
    "carbonate_b": ("carbonate_2", 2, 64, 64, "png1"),
    "soil_a": ("soil_1", 3, 64, 64, "tif16"),
    "sandstone_a": ("sandstone_1", 3, 64, 80, "png255"),
}


def main() -> None:
    rows = ["stack,rock_type"]
    for name, (source, slices, height, width, form) in STACKS.items():
        stack = rocks.make_stack(source, slices=slices, size=max(height, width), seed=1)
        for folder in ("images", "labels"):
            (HERE / name / folder).mkdir(parents=True, exist_ok=True)
        for index in range(slices):
            image = stack.image[index, :height, :width]
            pores = stack.pores[index, :height, :width]
            stem = f"slice_{index:03d}"
            if form == "tif16":  # a 16-bit reconstruction using a narrow band of the range
                coretf_io.write_image(HERE / name / "images" / f"{stem}.tif",
                                      (image.astype(np.uint16) * 40 + 9000))
                coretf_io.write_image(HERE / name / "labels" / f"{stem}.tif", pores * 255)
            else:
                coretf_io.write_image(HERE / name / "images" / f"{stem}.png", image)
                coretf_io.write_image(HERE / name / "labels" / f"{stem}.png",
                                      pores * (255 if form == "png255" else 1))
        rows.append(f"{name},{source.rsplit('_', 1)[0]}")
    (HERE / "stacks.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
