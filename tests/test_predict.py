"""coretf.predict: whole images through a SavedModel, in any orientation, scale and file layout."""

import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import tifffile

from coretf import export as export_lib
from coretf import image_source
from coretf import io as coretf_io
from coretf import inference
from tests import exports

PX_PER_CM = 10.0


@pytest.fixture(scope="module")
def pointwise(tmp_path_factory):
    """A per-pixel model (1x1 conv): tiled output must equal a whole-image pass exactly."""
    export_dir = str(tmp_path_factory.mktemp("model") / "export")
    model = exports.pointwise_export(export_dir, PX_PER_CM)
    return model, inference.Predictor(export_dir)


def _image(height, width, seed=0):
    rng = np.random.default_rng(seed)
    smooth = rng.random((height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    import cv2

    image = cv2.resize(smooth, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def _expected(model, image):
    logits = model(coretf_io.to_float(image)[None]).numpy()[0]
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return p[..., 1]


def _outputs(out_dir, stem):
    mask = coretf_io.read_image(os.path.join(out_dir, f"{stem}_mask.png"))
    confidence = tifffile.imread(os.path.join(out_dir, f"{stem}_confidence.tif"))
    record = json.loads(open(os.path.join(out_dir, f"{stem}.json")).read())
    return mask, confidence, record


def test_png_section_equals_a_whole_image_pass(pointwise, tmp_path):
    model, predictor = pointwise
    image = _image(40, 333)
    coretf_io.write_image(tmp_path / "s.png", image)
    inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "out"), progress=False)
    mask, confidence, record = _outputs(tmp_path / "out", "s")
    expected = _expected(model, image)
    assert confidence.dtype == np.float32 and confidence.shape == image.shape[:2]
    np.testing.assert_allclose(confidence, expected, atol=1e-5)
    clear = np.abs(expected - 0.5) > 1e-4  # away from ties, where rounding may pick either
    np.testing.assert_array_equal((mask > 0)[clear], (expected > 0.5)[clear])
    assert set(np.unique(mask)) <= {0, 255}
    assert record["model"]["sha256"] == predictor.hash and record["parameters"]["depth_axis"] == "x"
    assert os.path.getsize(tmp_path / "out" / "s_overlay.png") > 0
    # The uncertainty map: the entropy of (1 - p, p) over ln 2, streamed like the confidence map.
    uncertain = tifffile.imread(tmp_path / "out" / "s_uncertainty.tif")
    p = np.clip(expected, 1e-12, 1 - 1e-12)
    np.testing.assert_allclose(uncertain, -(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(2), atol=1e-4)
    assert coretf_io.read_image(tmp_path / "out" / "s_uncertainty.png").ndim == 3


def test_tta_averages_views_that_keep_depth(pointwise, tmp_path):
    """A per-pixel model is unchanged by any view: --tta must give its output back (mapped back
    right, depth not reversed), with the views named in the record."""
    model, predictor = pointwise
    image = _image(48, 200, seed=4)
    coretf_io.write_image(tmp_path / "s.png", image)
    inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "out"), tta=True, progress=False)
    _, confidence, record = _outputs(tmp_path / "out", "s")
    np.testing.assert_allclose(confidence, _expected(model, image), atol=1e-5)
    assert record["parameters"]["tta"] is True


def test_depth_along_y_gives_the_transposed_result(pointwise, tmp_path):
    _, predictor = pointwise
    image = _image(40, 200)
    coretf_io.write_image(tmp_path / "x.png", image)
    coretf_io.write_image(tmp_path / "y.png", image.transpose(1, 0, 2).copy())
    for stem in ("x", "y"):
        inference.predict_image(predictor, str(tmp_path / f"{stem}.png"), str(tmp_path / "out"),
                                progress=False)
    mask_x, confidence_x, _ = _outputs(tmp_path / "out", "x")
    mask_y, confidence_y, record_y = _outputs(tmp_path / "out", "y")
    assert record_y["parameters"]["depth_axis"] == "y"  # auto: the long axis
    np.testing.assert_array_equal(mask_y, mask_x.T)
    np.testing.assert_allclose(confidence_y, confidence_x.T, atol=1e-6)


def test_tiled_bigtiff_16_bit_reads_tile_by_tile_with_the_same_result(pointwise, tmp_path):
    _, predictor = pointwise
    image = _image(48, 300).astype(np.uint16) * 257
    coretf_io.write_image(tmp_path / "png.png", (image // 257).astype(np.uint8))
    tifffile.imwrite(tmp_path / "tiled.tif", image, tile=(16, 32), bigtiff=True, compression="zlib")
    with image_source.open_image(tmp_path / "tiled.tif") as source:
        assert isinstance(source, image_source.TiledTiffSource)
    for name in ("png.png", "tiled.tif"):
        inference.predict_image(predictor, str(tmp_path / name), str(tmp_path / "out"), progress=False)
    _, confidence_png, _ = _outputs(tmp_path / "out", "png")
    _, confidence_tif, record = _outputs(tmp_path / "out", "tiled")
    assert record["image"]["dtype"] == "uint16"
    np.testing.assert_allclose(confidence_tif, confidence_png, atol=1e-5)


@pytest.mark.parametrize("px_per_cm,factor", [(20.0, 1.0), (PX_PER_CM, 0.5), (5.0, 1.0)])
def test_resampling_to_the_training_scale(pointwise, tmp_path, px_per_cm, factor):
    model, predictor = pointwise
    image = _image(64, 400)
    coretf_io.write_image(tmp_path / "s.png", image)
    record = inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "out"),
                                     px_per_cm=px_per_cm, resolution_factor=factor, progress=False)
    _, confidence, _ = _outputs(tmp_path / "out", "s")
    scale = PX_PER_CM / px_per_cm * factor
    assert record["parameters"]["inference_scale"] == pytest.approx(scale)
    assert record["image"]["inference_width"] == round(400 * scale)
    assert confidence.shape == (64, 400)
    # A smooth image through a per-pixel model: resampling changes the map only a little (the
    # detail lost when shrinking, ~0.022 here; ~0.003 when enlarging) and never shifts it.
    difference = np.abs(confidence - _expected(model, image))
    assert difference.mean() < 0.03 and np.percentile(difference, 99) < 0.25
    shifted = np.abs(np.roll(confidence, 1, axis=1) - _expected(model, image))
    assert difference[:, 8:-8].mean() < shifted[:, 8:-8].mean()


def test_image_iou_against_a_true_mask(pointwise, tmp_path):
    _, predictor = pointwise
    image = _image(32, 128)
    coretf_io.write_image(tmp_path / "s.png", image)
    inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "a"), progress=False)
    mask, _, _ = _outputs(tmp_path / "a", "s")
    os.makedirs(tmp_path / "truth")
    coretf_io.write_image(tmp_path / "truth" / "s_mask.png", mask)
    record = inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "b"),
                                     truth=str(tmp_path / "truth"), progress=False)
    assert record["truth"]["image_iou"] == pytest.approx(1.0)
    assert record["truth"]["patches"] == 4  # 32 x 128 px in 32 px tiles
    # Mark the whole first tile disturbed in the truth: its Patch-IoU becomes |pred ∩ true| / 1024.
    truth = mask.copy()
    truth[:, :32] = 0
    coretf_io.write_image(tmp_path / "truth" / "s_mask.png", truth)
    record = inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "c"),
                                     truth=str(tmp_path / "truth"), progress=False)
    first = np.sum(mask[:, :32] == 0)
    expected = ((first + 1e-6) / (1024 + 1e-6) + 3.0) / 4
    assert record["truth"]["image_iou"] == pytest.approx(expected, rel=1e-6)


def test_true_mask_of_another_size_is_an_error_naming_it(pointwise, tmp_path):
    _, predictor = pointwise
    coretf_io.write_image(tmp_path / "s.png", _image(32, 64))
    os.makedirs(tmp_path / "truth")
    coretf_io.write_image(tmp_path / "truth" / "s_mask.png", np.zeros((32, 60), np.uint8))
    with pytest.raises(coretf_io.ImageError, match="s_mask.png: mask is 60x32 px but the image is 64x32"):
        inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "out"),
                                truth=str(tmp_path / "truth"), progress=False)
    assert not os.path.exists(tmp_path / "out") or os.listdir(tmp_path / "out") == []  # no partial result


def test_memory_stays_flat_with_section_length_for_a_tiled_tiff(pointwise, tmp_path):
    # Python-side allocations (numpy reports to tracemalloc) of a 4x longer section grow by
    # its mask only: no buffer scales with the image.
    _, predictor = pointwise
    peaks = {}
    for length in (1000, 4000):
        path = tmp_path / f"s{length}.tif"
        tifffile.imwrite(path, np.tile(_image(64, 1000), (1, length // 1000, 1)), tile=(64, 64))
        inference.predict_image(predictor, str(path), str(tmp_path / "warm"), preview_size=500,
                                tile=32, overlap=8, progress=False)
        tracemalloc.start()
        inference.predict_image(predictor, str(path), str(tmp_path / "out"), preview_size=500,
                                tile=32, overlap=8, progress=False)
        peaks[length] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # Slack for the two streamed TIFFs' bookkeeping (confidence, uncertainty); one float32 map of
    # the 3000 extra px held whole would add 768 kB.
    mask_growth = 64 * 3000
    assert peaks[4000] - peaks[1000] < mask_growth + 400_000, peaks


def test_command_segments_a_folder_reports_bad_files_and_skips_done_ones(pointwise, tmp_path):
    _, predictor = pointwise
    inputs = tmp_path / "in"
    coretf_io.write_image(inputs / "good.png", _image(32, 96))
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    command = [sys.executable, "-m", "coretf.predict", f"--model={predictor.model_dir}",
               f"--input={inputs}", f"--output={tmp_path / 'out'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "1 segmented, 0 already done, 1 failed" in result.stdout
    assert "broken.jpg: cannot be decoded" in result.stdout
    assert sorted(os.listdir(tmp_path / "out")) == ["good.json", "good_confidence.tif",
                                                    "good_mask.png", "good_overlay.png",
                                                    "good_uncertainty.png", "good_uncertainty.tif"]
    before = os.path.getmtime(tmp_path / "out" / "good.json")
    (inputs / "broken.jpg").unlink()
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "0 segmented, 1 already done, 0 failed" in result.stdout
    assert os.path.getmtime(tmp_path / "out" / "good.json") == before
    # The input folder as --output: refused before any work, one line, exit 2.
    same = subprocess.run(command[:-1] + [f"--output={inputs}"], capture_output=True, text=True, timeout=300)
    assert same.returncode == 2 and "is the input folder" in same.stderr
    assert sorted(os.listdir(inputs)) == ["good.png"]


def test_colour_record_over_the_predicted_mask(pointwise, tmp_path):
    from coretf.analysis import colour_lines

    _, predictor = pointwise
    image = _image(40, 300)
    coretf_io.write_image(tmp_path / "s.png", image)
    record = inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "out"),
                                     colour_record=True, top_depth_cm=100.0, progress=False)
    mask, _, _ = _outputs(tmp_path / "out", "s")
    expected = colour_lines.section_record("s", image, mask, px_per_cm=PX_PER_CM, top_depth_cm=100.0,
                                           depth_axis="x")
    written = colour_lines.read_record_csv(record["colour_record"], "s")
    np.testing.assert_allclose(written.depth_cm, expected.depth_cm, atol=1e-4)
    np.testing.assert_allclose(written.mean, expected.mean, atol=1e-3)
    assert os.path.exists(tmp_path / "out" / "s_colour.png")


def test_messages_and_figures_name_the_exports_own_classes(pointwise, tmp_path):
    """A rock_ct export: the JSON and the console speak of pores, and the IoU is the pore class's."""
    model, _ = pointwise
    export_dir = str(tmp_path / "rock_export")
    export_lib.export_saved_model(model, export_dir, {
        "job": "rock_ct", "input_multiple": 1, "confidence_class": 1, "iou_class": 1,
        "class_names": ["solid", "pore"], "tile_size": 32})
    image = _image(32, 64)
    coretf_io.write_image(tmp_path / "in" / "slice.png", image)
    predictor = inference.Predictor(export_dir)
    record = inference.predict_image(predictor, str(tmp_path / "in" / "slice.png"), str(tmp_path / "a"),
                                     progress=False)
    mask, _, _ = _outputs(tmp_path / "a", "slice")
    assert record["pore_fraction"] == pytest.approx(np.mean(mask > 0)) and "undisturbed_fraction" not in record
    truth = mask.copy()
    truth[:, :32] = 255  # the first tile all pore in the truth: its IoU is that of the pore class
    coretf_io.write_image(tmp_path / "truth" / "slice_mask.png", truth)
    record = inference.predict_image(predictor, str(tmp_path / "in" / "slice.png"), str(tmp_path / "b"),
                                     truth=str(tmp_path / "truth"), progress=False)
    pores = np.sum(mask[:, :32] > 0)
    assert record["truth"]["iou_of"] == "pore"
    assert record["truth"]["image_iou"] == pytest.approx(((pores + 1e-6) / (1024 + 1e-6) + 1.0) / 2, rel=1e-6)
    command = [sys.executable, "-m", "coretf.predict", f"--model={export_dir}", f"--input={tmp_path / 'in'}",
               f"--output={tmp_path / 'c'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "% pore" in result.stdout and "undisturbed" not in result.stdout


def test_truth_with_a_label_map_ignores_what_it_says(pointwise, tmp_path):
    """--truth with colour-coded masks and an ignore colour: the ignored half counts nowhere."""
    from coretf import labels

    _, predictor = pointwise
    image = _image(32, 64)
    coretf_io.write_image(tmp_path / "s.png", image)
    inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "a"), progress=False)
    mask, _, _ = _outputs(tmp_path / "a", "s")
    truth = np.zeros((32, 64, 3), np.uint8)
    truth[mask > 0] = (0, 255, 0)  # undisturbed where predicted undisturbed
    truth[mask == 0] = (255, 0, 0)
    truth[:, 32:] = (0, 0, 0)  # the right tile: not labelled
    coretf_io.write_image(tmp_path / "truth" / "s_mask.png", truth)
    mapping = labels.LabelMap.parse("#00ff00=undisturbed,#ff0000=disturbed_or_background,#000000=ignore")
    record = inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "b"),
                                     truth=str(tmp_path / "truth"), label_map=mapping, progress=False)
    assert record["truth"]["patches"] == 1 and record["truth"]["image_iou"] == pytest.approx(1.0)
    assert record["truth"]["accuracy"] == 1.0 and record["truth"]["ignored_share"] == pytest.approx(0.5)


def test_ct_slices_are_resampled_to_the_models_voxel_size(pointwise, tmp_path):
    """A 20 um slice through a 60 um model: inferred at a third of the side, written at full size."""
    model, _ = pointwise
    export_dir = str(tmp_path / "ct_export")
    export_lib.export_saved_model(model, export_dir, {
        "job": "ice_ct", "input_multiple": 1, "confidence_class": 1, "iou_class": 1,
        "class_names": ["air", "ice"], "tile_size": 32, "um_per_voxel": 60.0})
    coretf_io.write_image(tmp_path / "slice.png", _image(96, 96))
    record = inference.predict_image(inference.Predictor(export_dir), str(tmp_path / "slice.png"),
                                     str(tmp_path / "out"), um_per_voxel=20.0, progress=False)
    assert record["image"]["inference_height"] == 32 and record["image"]["inference_width"] == 32
    assert record["parameters"]["model_um_per_voxel"] == 60.0
    mask, confidence, _ = _outputs(tmp_path / "out", "slice")
    assert mask.shape == confidence.shape == (96, 96) and "ice_fraction" in record


def test_images_the_model_was_not_made_for_are_refused_by_name(pointwise, tmp_path):
    """A grayscale photograph for an RGB model (unless --convert_grayscale), a float image in
    0-255 instead of 0-1, and a 1 x 1 px image: each refused with the file and what to do."""
    model, predictor = pointwise
    grey = tmp_path / "grey.png"
    coretf_io.write_image(grey, _image(32, 96)[..., 0])
    with pytest.raises(coretf_io.ImageError, match="grey.png: a grayscale image for a model of RGB "
                                                   "photographs; give --convert_grayscale"):
        inference.predict_image(predictor, str(grey), str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")
    inference.predict_image(predictor, str(grey), str(tmp_path / "out"), convert_grayscale=True,
                            progress=False)
    mask, _, _ = _outputs(tmp_path / "out", "grey")
    rgb = np.repeat(_image(32, 96)[..., :1], 3, axis=-1)
    np.testing.assert_array_equal(mask > 0, _expected(model, rgb) > 0.5)
    float_255 = tmp_path / "float.tif"
    tifffile.imwrite(float_255, _image(32, 96).astype(np.float32))
    with pytest.raises(coretf_io.ImageError, match=r"float.tif: a float image with values in \[.*255\]"):
        inference.predict_image(predictor, str(float_255), str(tmp_path / "out"), progress=False)
    tiny = tmp_path / "tiny.png"
    coretf_io.write_image(tiny, np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(coretf_io.ImageError, match="tiny.png: 1 x 1 px, smaller than the model's minimum"):
        inference.predict_image(predictor, str(tiny), str(tmp_path / "out"), progress=False)
    assert sorted(os.listdir(tmp_path / "out")) == ["grey.json", "grey_confidence.tif", "grey_mask.png",
                                                     "grey_overlay.png", "grey_uncertainty.png",
                                                     "grey_uncertainty.tif"]


def test_serving_says_what_it_takes(pointwise):
    import tensorflow as tf

    _, predictor = pointwise
    serve = tf.saved_model.load(predictor.model_dir).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"float32 \(batch, height, width, 3\) in "
                                                             r"\[0, 1\], at least 1 px a side"):
        serve(images=tf.zeros([1, 0, 4, 3]))  # an image of height 0


def test_a_failure_after_the_first_output_leaves_none_of_the_images_files(pointwise, tmp_path, monkeypatch):
    _, predictor = pointwise
    coretf_io.write_image(tmp_path / "s.png", _image(32, 96))
    real = coretf_io.write_image

    def full_at_the_overlay(path, image):
        if str(path).endswith("_overlay.png"):
            raise OSError(28, "No space left on device", str(path))
        real(path, image)

    monkeypatch.setattr(coretf_io, "write_image", full_at_the_overlay)
    with pytest.raises(OSError, match="No space left"):
        inference.predict_image(predictor, str(tmp_path / "s.png"), str(tmp_path / "out"), progress=False)
    assert os.listdir(tmp_path / "out") == []  # the confidence TIFF and the mask were removed
