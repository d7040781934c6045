"""The colour record read band by band along depth (`colour_batch.SectionImage`,
`measure_section(block_lines=...)`): the record of the whole image (`colour_lines.section_record`)
from a tiled RGBA TIFF, a PNG with its mask PNG and a tiled TIFF with a tiled TIFF mask, depth
along x and y; and reads that never span more than a block of depth lines."""

import numpy as np
import pytest
import tifffile

from coretf import image_source
from coretf import io as coretf_io
from coretf.analysis import colour_batch
from coretf.analysis import colour_lines as cr
from coretf.synthetic import cores

P = 20.0  # px/cm


@pytest.fixture(scope="module")
def core():
    """A synthetic core cut out with its true box, and its exact mask (255 = undisturbed)."""
    section = cores.make_section(2, seed=0, length_cm=20.0, px_per_cm=P)
    x0, y0, x1, y1 = section.core_box
    return section.image[y0:y1, x0:x1], (section.mask[y0:y1, x0:x1] > 0).astype(np.uint8) * 255


def _write(folder, layout, image, mask) -> str:
    (folder / "masks").mkdir(exist_ok=True)
    if layout == "rgba_tiled":  # the label in the alpha channel, GIMP-style
        tifffile.imwrite(folder / "S.tif", np.dstack([image, mask]), tile=(16, 32))
        return str(folder / "S.tif")
    if layout == "png":
        coretf_io.write_image(folder / "S.png", image)
        coretf_io.write_image(folder / "masks" / "S_mask.png", mask)
        return str(folder / "S.png")
    tifffile.imwrite(folder / "S.tif", image.astype(np.uint16) * 257, tile=(32, 16))
    tifffile.imwrite(folder / "masks" / "S_mask.tif", mask, tile=(16, 48))
    return str(folder / "S.tif")


class Counting(image_source.ImageSource):
    """A source that records the longest extent of its reads along depth (x)."""

    def __init__(self, source):
        self.source, self.longest = source, 0
        self.shape, self.channels, self.dtype, self.name = source.shape, source.channels, source.dtype, source.name

    def read(self, r0, r1, c0, c1):
        self.longest = max(self.longest, c1 - c0)
        return self.source.read(r0, r1, c0, c1)


@pytest.mark.parametrize("depth_axis", ["x", "y"])
@pytest.mark.parametrize("layout", ["rgba_tiled", "png", "tiled_mask"])
def test_a_streamed_record_is_the_whole_image_record(tmp_path, core, layout, depth_axis):
    image, mask = core
    if depth_axis == "y":
        image, mask = np.ascontiguousarray(image.transpose(1, 0, 2)), np.ascontiguousarray(mask.T)
    path = _write(tmp_path, layout, image, mask)
    whole_image, whole_mask = colour_batch.read_image_and_mask(path, str(tmp_path / "masks"))
    np.testing.assert_array_equal(whole_mask, mask > 0)
    expected = cr.section_record("S", whole_image, whole_mask, px_per_cm=P, top_depth_cm=5.0,
                                 depth_axis=depth_axis, top_px=3)
    record, _ = colour_batch.measure_section(path, str(tmp_path / "masks"), str(tmp_path / "out"),
                                             colour_batch.Placement(P, 5.0, "auto", 3), block_lines=7)
    assert len(record) == image.shape[1 if depth_axis == "x" else 0] - 3
    for name in ("offset_cm", "depth_cm", "kept_fraction", "mean", "sd", "median", "mean_unfiltered",
                 "halves", "halves_unfiltered"):
        np.testing.assert_array_equal(getattr(record, name), getattr(expected, name), err_msg=name)
    assert np.isfinite(record.mean[:, 0]).mean() > 0.5  # most lines kept: the test measures something
    written = cr.read_record_csv(str(tmp_path / "out" / "S_colour.csv"), "S")
    np.testing.assert_allclose(cr.record_table(written), cr.record_table(expected), rtol=1e-8)


@pytest.mark.parametrize("layout", ["rgba_tiled", "tiled_mask"])
def test_reads_span_at_most_a_block_of_depth_lines(tmp_path, core, layout):
    path = _write(tmp_path, layout, *core)
    with colour_batch.SectionImage(path, str(tmp_path / "masks")) as section:
        assert isinstance(section.image, image_source.TiledTiffSource)
        section.image = Counting(section.image)
        if section.mask is not None:
            assert isinstance(section.mask, image_source.TiledTiffSource)
            section.mask = Counting(section.mask)
        stats = cr.block_statistics(section.blocks("x", 7))
        assert len(stats["kept_fraction"]) == core[0].shape[1]
        assert section.image.longest == 7 and (section.mask is None or section.mask.longest == 7)
