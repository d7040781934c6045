"""The command line: console scripts, `--help` with each command's own flags, one vocabulary."""

from __future__ import annotations

import concurrent.futures
import configparser
import importlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from absl import flags

from coretf import flags as coretf_flags

ROOT = pathlib.Path(__file__).resolve().parents[1]


def console_scripts() -> dict[str, str]:
    """setup.cfg's console scripts: {name: "module:function"}."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=")) for line in lines)


# Each command's own flags that --help must list, and the shared names it must use.
OWN_FLAGS = {
    "coretf.train": ("--job", "--model_dir", "--architecture", "--dataset", "--epochs", "--init_from"),
    "coretf.predict": ("--model", "--input", "--output", "--sections", "--truth"),
    "coretf.demo": ("--model_dir",),
    "coretf.preprocess.core_crop": ("--input", "--output", "--method", "--depth_axis"),
    "coretf.analysis.colour_record": ("--input", "--masks", "--output", "--sections"),
    "coretf.preprocess.ice_labels": ("--input", "--output", "--fov"),
    "coretf.analysis.ice_validation": ("--model", "--output"),
    "coretf.preprocess.grains": ("--input", "--output"),
    "coretf.analysis.grain_clusters": ("--model", "--input", "--output"),
    "coretf.build": ("--dataset", "--config", "--manual_dir", "--data_dir"),
    "coretf.pipeline": ("--job", "--input", "--output", "--fov"),
}


def test_every_command_has_a_console_script():
    scripts = console_scripts()
    targets = {target.split(":")[0]: target for target in scripts.values()}
    assert set(targets) == set(OWN_FLAGS)
    for name, target in scripts.items():
        module_name, function = target.split(":")
        assert name == "coretf-" + module_name.rsplit(".", 1)[1].replace("_", "-")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, function)) and callable(module.main)


def _help(module: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env={**os.environ, "CORETF_VERBOSE": ""})


def test_help_lists_the_commands_own_flags_and_exits_0():
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = dict(zip(OWN_FLAGS, pool.map(_help, OWN_FLAGS)))
    for module, result in results.items():
        assert result.returncode == 0, (module, result.stderr[-2000:])
        for flag in OWN_FLAGS[module]:
            assert f"{flag}:" in result.stdout, (module, flag, result.stdout[:3000])
        # its own flags only: not absl's logging flags, no TensorFlow start-up lines
        assert "--logtostderr" not in result.stdout and "--helpfull also lists" in result.stdout
        assert result.stderr.strip() == "", (module, result.stderr[-2000:])
        summary = (importlib.import_module(module).__doc__ or "").strip().splitlines()[0]
        assert result.stdout.startswith(summary), (module, result.stdout[:300])


def test_help_of_the_installed_console_script():
    script = pathlib.Path(sys.executable).parent / "coretf-predict"
    if not script.exists():
        pytest.skip("coretf is not installed with its console scripts in this interpreter's bin/")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "--model:" in result.stdout and "--input:" in result.stdout


def _train_flags() -> flags.FlagValues:
    values = flags.FlagValues()
    coretf_flags.define_train_flags(values)
    return values


def _main(argv):
    del argv


def test_the_old_architecture_flag_still_works_with_a_warning(capsys):
    values = _train_flags()
    coretf_flags.parse_command_line(["train", "--model_dir=x", "--model=unet"], _main, values)
    assert values["architecture"].value == "unet"
    assert "--model is deprecated, use --architecture" in capsys.readouterr().err


def test_renamed_flags_in_a_flagfile(tmp_path, capsys):
    flagfile = tmp_path / "old.flags"
    flagfile.write_text("--model_dir=x\n--model=fcn8\n")
    values = _train_flags()
    coretf_flags.parse_command_line(["train", f"--flagfile={flagfile}"], _main, values)
    assert values["architecture"].value == "fcn8" and values["model_dir"].value == "x"
    assert "deprecated" in capsys.readouterr().err


def test_a_command_that_has_the_old_name_keeps_it():
    values = flags.FlagValues()
    flags.DEFINE_string("model", None, "a SavedModel", flag_values=values)
    flags.DEFINE_string("architecture", None, "unrelated", flag_values=values)
    coretf_flags.parse_command_line(["predict", "--model=runs/demo/export"], _main, values)
    assert values["model"].value == "runs/demo/export" and values["architecture"].value is None


def test_a_bad_flag_is_one_line_and_exit_2(capsys):
    values = _train_flags()
    with pytest.raises(SystemExit) as exit_info:
        coretf_flags.parse_command_line(["train", "--model_dir=x", "--epochs=many"], _main, values)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith("error:") and "--epochs" in error


def test_a_refusal_inside_a_command_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "coretf.preprocess.core_crop",
                             f"--input={tmp_path / 'nowhere'}", f"--output={tmp_path / 'out'}"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "nowhere" in lines[0], result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["coretf.preprocess.core_crop", "coretf.preprocess.grains",
                                     "coretf.preprocess.ice_labels", "coretf.analysis.colour_record"])
def test_an_unusable_output_folder_stops_every_batch_command_before_any_work(tmp_path, command):
    """--output a file: one line naming it, exit 2, nothing written (predict: tests/test_predict.py
    has the model it needs)."""
    image = tmp_path / "in" / "sub" / "S01_L1.png"
    import numpy as np

    from coretf import io as coretf_io

    coretf_io.write_image(image, np.full((64, 96, 3), 128, np.uint8))
    (tmp_path / "taken").write_text("a file, not a folder\n")
    inputs = tmp_path / "in" if command.endswith("grains") else image.parent
    extra = ["--layers=1"] if command.endswith("grains") else (
        ["--px_per_cm=10"] if command.endswith("colour_record") else [])
    result = subprocess.run([sys.executable, "-m", command, f"--input={inputs}",
                             f"--output={tmp_path / 'taken' / 'out'}", *extra],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2, result.stdout[-1000:] + result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "taken/out: cannot be created" in lines[0], result.stderr[-2000:]


@pytest.mark.parametrize("breakage, message", [
    (lambda d: (d / "sections.csv").write_text((d / "sections.csv").read_text().replace("A-01,20.0", "A-01,inf", 1)),
     r"sections.csv, line 2: need px_per_cm to be finite for section 'A-01', got inf"),
    (lambda d: tifffile.imwrite(d / "A-03.tif", np.full((40, 300, 3), 200.0, np.float32)),
     r"A-03.tif: a float image with values in \[200, 200\]; floats must be in \[0, 1\]"),
])
def test_a_manual_build_refused_is_one_line(tmp_path, breakage, message):
    """`python -m coretf.build` (the builders' own messages, no traceback, exit 2)."""
    import re
    import shutil

    lab = tmp_path / "lab"
    shutil.copytree(ROOT / "datasets" / "sediment_cores" / "dummy_data", lab)
    breakage(lab)
    result = subprocess.run([sys.executable, "-m", "coretf.build", "--dataset=sediment_cores", "--config=manual",
                             f"--manual_dir={lab}", f"--data_dir={tmp_path / 'data'}"],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 2, result.stdout[-1000:] + result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and re.search(message, lines[0]), result.stderr[-2000:]
