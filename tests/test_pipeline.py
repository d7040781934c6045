"""coretf.pipeline on Beam's DirectRunner (two worker processes): the same files as the local
commands (core sections, ice slices, grain photo sets), bad inputs in one report, a rerun skips
what is done."""

import json
import subprocess
import sys

from coretf import io as coretf_io
from coretf.preprocess import ice_batch
from coretf.synthetic import grains as synthetic_grains
from coretf.synthetic import ice
from tests import exports
from tests.test_readme_chains import PX_PER_CM, lab  # noqa: F401 - the two section photographs and their tables

BEAM = ["--", "--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def _pipeline(*args):
    return subprocess.run([sys.executable, "-m", "coretf.pipeline", "--job=ice_ct", *args], capture_output=True,
                          text=True, timeout=300)


def _without_provenance(path):
    record = json.loads(path.read_text())
    record.pop("provenance")
    return record


def test_ice_slices_on_beam_give_the_local_commands_files(tmp_path):
    specimen = ice.make_specimen(0, size=96, slices=4)
    stack = tmp_path / "stack"
    for z in range(4):
        coretf_io.write_image(stack / f"s{z}.png", specimen.high_slice(z))
    (stack / "s4.png").write_bytes((stack / "s0.png").read_bytes()[:200])  # truncated
    local, beam = tmp_path / "local", tmp_path / "beam"
    count, _, bad = ice_batch.write_slice_labels(str(stack), str(local), workers=1, progress=False)
    assert count == 4 and len(bad) == 1
    result = _pipeline(f"--input={stack}", f"--output={beam}", *BEAM)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "labelled 4 slice(s) (0 done before)" in result.stdout
    assert f"{stack / 's4.png'}: cannot be decoded" in result.stdout
    assert (beam / "errors.txt").read_text() == bad[0] + "\n"
    for folder in ice_batch.OUTPUT_FOLDERS:
        for z in range(4):
            assert (beam / folder / f"s{z}.png").read_bytes() == (local / folder / f"s{z}.png").read_bytes()
    for z in range(4):
        assert _without_provenance(beam / "slices" / f"s{z}.json") == _without_provenance(local / "slices" / f"s{z}.json")
    assert coretf_io.read_csv(beam / "thresholds.csv") == coretf_io.read_csv(local / "thresholds.csv")
    (stack / "s4.png").unlink()
    again = _pipeline(f"--input={stack}", f"--output={beam}", *BEAM)
    assert again.returncode == 0 and "labelled 0 slice(s) (4 done before)" in again.stdout
    assert not (beam / "errors.txt").exists()


def test_refusals_are_one_line(tmp_path):
    coretf_io.write_image(tmp_path / "s0.png", ice.make_specimen(0, size=64, slices=2).high_slice(0))
    for args, message in ((("--input=/nowhere", f"--output={tmp_path / 'out'}"), "/nowhere: no such file or folder"),
                          ((f"--input={tmp_path}", f"--output={tmp_path}"), "is the input folder")):
        result = _pipeline(*args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def _rows(path, drop=()):
    return [{k: v for k, v in row.items() if k not in drop} for row in coretf_io.read_csv(path)]


def _same_files(beam, local, pattern):
    names = sorted(p.relative_to(local) for p in local.glob(pattern))
    assert names and names == sorted(p.relative_to(beam) for p in beam.glob(pattern)), pattern
    for name in names:
        assert (beam / name).read_bytes() == (local / name).read_bytes(), name


def _command(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300)


def test_core_sections_on_beam_give_the_three_commands_files(lab, tmp_path):
    root, made = lab
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in made:
        (photos / f"{name}.png").write_bytes((root / "photos" / f"{name}.png").read_bytes())
    (photos / "S03.png").write_bytes((photos / "S01.png").read_bytes()[:300])  # truncated
    exports.pointwise_export(str(tmp_path / "export"), PX_PER_CM)
    tables = [f"--sections={root / 'sections.csv'}"]
    local, beam = tmp_path / "local", tmp_path / "beam"
    steps = [("coretf.preprocess.core_crop", f"--input={photos}", f"--output={local / 'crops'}", *tables),
             ("coretf.predict", f"--model={tmp_path / 'export'}", f"--input={local / 'crops'}",
              f"--output={local / 'predicted'}", *tables),
             ("coretf.analysis.colour_record", f"--input={local / 'crops'}", f"--masks={local / 'predicted'}",
              f"--output={local / 'colour'}", f"--splice={root / 'splice.csv'}", *tables)]
    for step in steps:
        result = _command(*step)
        assert result.returncode == (1 if "core_crop" in step[0] else 0), result.stdout + result.stderr[-2000:]
    run = [f"--job=sediment_cores", f"--input={photos}", f"--output={beam}", f"--model={tmp_path / 'export'}",
           f"--splice={root / 'splice.csv'}", *tables]
    result = _command("coretf.pipeline", *run, *BEAM)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    crop_rows = _rows(local / "crops" / "crops.csv")
    assert [r["status"] for r in crop_rows] == ["ok", "ok", "error"]
    assert (beam / "errors.txt").read_text() == crop_rows[2]["message"] + "\n"
    assert "3 section(s): 2 ok, 1 error; 2 colour record(s)" in result.stdout
    assert _rows(beam / "crops" / "crops.csv") == crop_rows
    _same_files(beam / "crops", local / "crops", "*.png")
    assert not list((beam / "crops" / "review").glob("*.png"))  # none flagged, as in the local run
    for name in ("S01", "S02"):
        assert _without_provenance(beam / "crops" / "review" / f"{name}_crop.json") == \
            _without_provenance(local / "crops" / "review" / f"{name}_crop.json")
    for suffix in ("_mask.png", "_overlay.png", "_confidence.tif"):
        _same_files(beam / "predicted", local / "predicted", f"*{suffix}")
    for name in made:
        records = [json.loads((out / "predicted" / f"{name}.json").read_text()) for out in (beam, local)]
        assert "pipeline.py --job=sediment_cores" in records[0]["provenance"]["command"]  # not the worker
        for record in records:
            for key in ("input", "outputs", "seconds", "provenance"):
                record.pop(key)
        assert records[0] == records[1]
    _same_files(beam / "colour", local / "colour", "*.png")
    for table in ("S01_colour.csv", "S02_colour.csv", "S01_xcorr.csv", "composite_colour.csv",
                  "composite_status.csv"):
        assert _rows(beam / "colour" / table) == _rows(local / "colour" / table), table
    status = _rows(beam / "colour" / "colour_record_status.csv", drop=("image", "seconds"))
    assert status == _rows(local / "colour" / "colour_record_status.csv", drop=("image", "seconds"))
    assert [r["status"] for r in status] == ["ok", "ok"]

    (photos / "S03.png").unlink()
    again = _command("coretf.pipeline", *run, *BEAM)
    assert again.returncode == 0 and "2 section(s): 2 ok; 2 colour record(s)" in again.stdout, again.stdout
    assert not (beam / "errors.txt").exists()
    status = _rows(beam / "colour" / "colour_record_status.csv")
    assert [r["status"] for r in status] == ["done earlier", "done earlier"]  # nothing redone
    assert _rows(beam / "colour" / "composite_colour.csv") == _rows(local / "colour" / "composite_colour.csv")


def test_grain_sets_on_beam_give_the_two_commands_files(tmp_path):
    photos = tmp_path / "photos"
    for index, (sample, position) in enumerate([("A", "P0"), ("A", "P1"), ("B", "P0")]):
        made = synthetic_grains.make_photo_set(index, height=128, width=160, num_particles=(3, 4))
        for layer, image in enumerate(made.layers):
            coretf_io.write_image(photos / sample / position / f"f{layer}.png", image)
    bad = photos / "B" / "P1"
    bad.mkdir()
    for layer in range(6):
        (bad / f"f{layer}.png").write_bytes((photos / "A" / "P0" / "f0.png").read_bytes()[:200])
    encoder = tmp_path / "encoder"
    exports.colour_encoder_export(str(encoder), size=32)
    local, beam = tmp_path / "local", tmp_path / "beam"
    extraction = ("--crop_size=32", "--workers=1")
    assert _command("coretf.preprocess.grains", f"--input={photos}", f"--output={local}", *extraction).returncode == 1
    fitted = tmp_path / "fitted"
    for output, more in ((fitted, ("--k=3",)), (local / "clusters", (f"--centres={fitted}",))):
        result = _command("coretf.analysis.grain_clusters", f"--model={encoder}", f"--input={local}",
                          f"--output={output}", *more)
        assert result.returncode == 0, result.stderr[-3000:]
    assert len(_rows(fitted / "cluster_centres.csv")) == 3
    result = _command("coretf.pipeline", "--job=sediment_grains", f"--input={photos}", f"--output={beam}",
                      f"--model={encoder}", f"--centres={fitted}", "--crop_size=32", *BEAM)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert "3 photo set(s) (0 done before)" in result.stdout and "B/P1" in result.stdout
    assert (beam / "errors.txt").read_text() == (local / "errors.txt").read_text()
    for pattern in ("crops/*/*.png", "overlays/*/*.png", "clusters/galleries/*.png"):
        _same_files(beam, local, pattern)
    for table in ("particles.csv", "grains.csv", "boxes/A/P0.csv", "clusters/clusters.csv",
                  "clusters/sample_counts.csv"):
        assert _rows(beam / table) == _rows(local / table), table
    assert _without_provenance(beam / "grain_sizes.json") == _without_provenance(local / "grain_sizes.json")
    assert (beam / "clusters" / "latent_map.png").exists()
    # The fitted clusters themselves: the particles keep the clusters K-means gave them.
    assert _rows(local / "clusters" / "clusters.csv") == _rows(fitted / "clusters.csv")

    again = _command("coretf.pipeline", "--job=sediment_grains", f"--input={photos}", f"--output={beam}",
                     f"--model={encoder}", f"--centres={fitted}", "--crop_size=32", *BEAM)
    assert again.returncode == 1 and "(3 done before)" in again.stdout, again.stdout
    assert _rows(beam / "clusters" / "clusters.csv") == _rows(local / "clusters" / "clusters.csv")
