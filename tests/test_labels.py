"""Label maps: grey values, palette PNGs and colour codes to class indices, with an ignore class."""

import numpy as np
import pytest

from coretf import io as coretf_io
from coretf import labels

ROCK = ("solid", "pore")


def test_grey_values_and_ignore():
    mapping = labels.LabelMap.parse("0=solid, 255=pore; 128=ignore")
    mask = np.array([[0, 255], [128, 0]], np.uint8)
    np.testing.assert_array_equal(mapping.apply(mask, ROCK, "m.png"), [[0, 1], [labels.IGNORE, 0]])
    assert labels.ignored_share(mapping.apply(mask, ROCK, "m.png")) == 0.25
    assert mapping.describe() == "0=solid, 255=pore, 128=ignore"


def test_rgb_colour_codes_with_a_default(tmp_path):
    mapping = labels.LabelMap.parse("#ff0000=pore,#0000ff=solid,*=outside")
    mask = np.zeros((2, 3, 3), np.uint8)
    mask[0, 0] = (255, 0, 0)
    mask[0, 1] = (0, 0, 255)
    mask[1, :] = (10, 200, 10)  # not listed: the default
    assert mapping.colour
    np.testing.assert_array_equal(mapping.apply(mask, ROCK, "m.png"), [[1, 0, 255], [255, 255, 255]])
    # the same map from the folder's labels.csv
    (tmp_path / "labels.csv").write_text("value,class\n#ff0000,pore\n#0000ff,solid\n*,ignore\n")
    read = labels.folder_label_map(tmp_path, labels.LabelMap.parse("0=solid"))
    np.testing.assert_array_equal(read.apply(mask, ROCK, "m.png"), [[1, 0, 255], [255, 255, 255]])
    assert labels.folder_label_map(tmp_path / "none", mapping) is mapping


def test_palette_png_of_greys_is_read_as_grey(tmp_path):
    from PIL import Image

    indices = np.array([[0, 1], [1, 0]], np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    image.save(tmp_path / "mask.png")
    decoded = coretf_io.read_image(tmp_path / "mask.png")
    mapping = labels.LabelMap.parse("0=solid,255=pore")
    np.testing.assert_array_equal(mapping.apply(decoded, ROCK, "mask.png"), indices)


def test_unlisted_values_and_unknown_classes_are_named():
    mapping = labels.LabelMap.parse("0=solid,255=pore", source="labels.csv")
    with pytest.raises(ValueError, match=r"m.png: values 3, 7 are not in labels.csv \(0=solid, 255=pore\)"):
        mapping.apply(np.array([[0, 3, 7]], np.uint8), ROCK, "m.png")
    with pytest.raises(ValueError, match="class 'rock' is not one of solid, pore or ignore"):
        labels.LabelMap.parse("0=rock").apply(np.zeros((1, 1), np.uint8), ROCK, "m.png")
    for bad, message in (("0=solid,0=pore", "listed twice"), ("zero=solid", "not a grey value"),
                         ("0:solid", "is not value=class"), ("", "lists no values")):
        with pytest.raises(ValueError, match=message):
            labels.LabelMap.parse(bad)
