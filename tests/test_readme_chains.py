"""The README's section chain runs as written: core_crop -> predict -> colour_record.

The commands are read from the README's `sh` blocks (so an edit there is tested), their optional
`[...]` parts dropped except the lab's tables, the placeholders `/path/to/...` pointed at two small
section photographs (`coretf.synthetic.section_photos`, exact core boxes) and their tables, and
`runs/demo/export` is a per-pixel core model. Each step's outputs are checked against what the
next step reads and against figures computed here.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from coretf import io as coretf_io
from coretf.preprocess import background
from coretf.synthetic import section_photos
from tests import exports

README = Path(__file__).resolve().parents[1] / "README.md"
PX_PER_CM = 20.0
KEPT_PLACEHOLDERS = ("--sections=/path/to/",)  # optional flags kept: one lab table serves all


def readme_commands() -> list[list[str]]:
    """Every `.venv/bin/python -m coretf...` command of the README's sh blocks, as argv lists."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = line.strip()
            if not line.startswith(".venv/bin/python -m coretf"):
                continue
            line = re.sub(r"\s*\[([^\]]*)\]",
                          lambda m: " " + m[1] if m[1].startswith(KEPT_PLACEHOLDERS) else "", line)
            commands.append(shlex.split(line))
    return commands


def _find(commands: list[list[str]], module: str, **flags: str) -> list[str]:
    for argv in commands:
        if argv[2] == module and all(f"--{k}={v}" in argv for k, v in flags.items()):
            return argv
    raise AssertionError(f"README has no `python -m {module}` command with {flags}")


def _flag(argv: list[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} in {argv}"
    return values[0]


def _run(argv: list[str], cwd: Path, places: dict[str, str]) -> subprocess.CompletedProcess:
    args = [sys.executable, *argv[1:]]
    for placeholder, path in places.items():
        args = [a.replace(placeholder, path) for a in args]
    assert not [a for a in args if "/path/to/" in a], f"unfilled placeholder in {args}"
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{shlex.join(argv)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two photographs (depth along x and along y), the lab's sections.csv and a splice table."""
    root = tmp_path_factory.mktemp("lab")
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    made = {}
    for index, (name, axis) in enumerate([("S01", "x"), ("S02", "y")]):
        conditions = section_photos.draw_conditions(
            rng, px_per_cm=(PX_PER_CM, PX_PER_CM), max_pixels=3e5, tray="dark", depth_axis=axis)
        photo = section_photos.make_photo(index, conditions, seed=5)
        coretf_io.write_image(photos / f"{name}.png", photo.image)
        made[name] = photo
    with open(root / "sections.csv", "w") as handle:
        handle.write("section,px_per_cm,top_depth_cm,depth_axis,expected_length_cm\n")
        for top, (name, photo) in zip((0.0, 200.0), made.items()):
            c = photo.conditions
            handle.write(f"{name},{PX_PER_CM},{top},{c.depth_axis},{c.length_cm:.2f}\n")
    (root / "splice.csv").write_text("section,top_offset_cm,bottom_offset_cm,composite_depth_m\n"
                                     "S01,2,12,0.0\nS02,1,9,0.10\n")
    return root, made


def test_core_crop_predict_colour_record_as_written(lab, tmp_path):
    root, made = lab
    commands = readme_commands()
    crop = _find(commands, "coretf.preprocess.core_crop")
    predict = _find(commands, "coretf.predict", model="runs/demo/export")
    colour = _find(commands, "coretf.analysis.colour_record")
    # One folder name per step: each step reads what the previous one wrote.
    assert _flag(crop, "output") == _flag(predict, "input") == _flag(colour, "input")
    assert _flag(predict, "output") == _flag(colour, "masks")
    assert _flag(crop, "sections") == _flag(predict, "sections") == _flag(colour, "sections")
    model = exports.pointwise_export(str(tmp_path / _flag(predict, "model")), PX_PER_CM)
    places = {"/path/to/photos": str(root / "photos"),
              "/path/to/sections.csv": str(root / "sections.csv"),
              "/path/to/splice.csv": str(root / "splice.csv")}

    _run(crop, tmp_path, places)
    crops = tmp_path / _flag(crop, "output")
    rows = {r["file"]: r for r in coretf_io.read_csv(crops / "crops.csv")}
    assert set(rows) == {"S01.png", "S02.png"}
    for name, photo in made.items():
        row = rows[f"{name}.png"]
        assert row["status"] == "ok", row
        assert row["output"] == f"{name}.png" and row["depth_axis"] == photo.conditions.depth_axis
        box = tuple(int(row[k]) for k in ("x0", "y0", "x1", "y1"))
        box, truth = ((background.transpose_box(box), background.transpose_box(photo.core_box))
                      if photo.conditions.depth_axis == "y" else (box, photo.core_box))
        assert background.truth_status(box, truth, tolerance_px=int(PX_PER_CM)) == "ok"
    # Only the crops are images in the folder the next step reads; review files are apart.
    assert sorted(os.path.basename(p) for p in coretf_io.list_images(str(crops))) == ["S01.png", "S02.png"]

    _run(predict, tmp_path, places)
    predicted = tmp_path / _flag(predict, "output")
    for name in made:
        image = coretf_io.read_image(crops / f"{name}.png")
        mask = coretf_io.read_image(predicted / f"{name}_mask.png")
        assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
        # The per-pixel model at the section's own scale (table: 20 px/cm = the model's).
        logits = model(coretf_io.to_float(image)[None]).numpy()[0]
        expected = np.where(logits[..., 1] > logits[..., 0], 255, 0)
        assert np.mean(mask == expected) > 0.999
        assert (predicted / f"{name}.json").exists() and (predicted / f"{name}_overlay.png").exists()

    _run(colour, tmp_path, places)
    out = tmp_path / _flag(colour, "output")
    for name, photo in made.items():
        image = coretf_io.read_image(crops / f"{name}.png")
        mask = coretf_io.read_image(predicted / f"{name}_mask.png") > 0
        if photo.conditions.depth_axis == "y":
            image, mask = image.transpose(1, 0, 2), mask.T
        record = coretf_io.read_csv(out / f"{name}_colour.csv")
        assert len(record) == image.shape[1]  # one row per depth line
        kept = np.array([float(r["kept_fraction"]) for r in record])
        np.testing.assert_allclose(kept, mask.mean(0), atol=1e-6)
        lab_image = cv2.cvtColor(coretf_io.to_float(image), cv2.COLOR_RGB2Lab)
        unfiltered = np.array([float(r["L_mean_unfiltered"]) for r in record])
        np.testing.assert_allclose(unfiltered, lab_image[..., 0].mean(0), atol=1e-3)
    status = coretf_io.read_csv(out / "composite_status.csv")
    assert [r["status"] for r in status] == ["ok", "ok"], status
    composite = coretf_io.read_csv(out / "composite_colour.csv")
    depth = np.array([float(r["composite_depth_m"]) for r in composite])
    assert abs(len(depth) - (10 + 8) * PX_PER_CM) <= 2
    assert depth.min() >= 0.0 and depth.max() < 0.18 and np.all(np.diff(depth) > 0)


def test_every_tfds_build_line_names_a_config_the_builder_has():
    """`tfds build datasets/<x>` without --config builds every config, the manual ones too, and
    stops on the first whose files are absent: each documented line names one that exists."""
    import importlib

    docs = [README, *sorted(README.parent.glob("datasets/*/README.md"))]
    lines = [(doc, line) for doc in docs for line in doc.read_text().splitlines()
             if re.search(r"\btfds build datasets/\w", line)]
    assert len(lines) >= 5
    for doc, line in lines:
        match = re.search(r"tfds build datasets/(\w+)\b.*?--config=(\w+)", line)
        assert match, f"{doc.name}: no --config in {line.strip()!r}"
        name, config = match.groups()
        module = importlib.import_module(f"coretf_datasets.{name}.{name}_dataset_builder")
        assert config in [c.name for c in module.Builder.BUILDER_CONFIGS], (doc.name, line)
