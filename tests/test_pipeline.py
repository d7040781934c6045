"""coretf.pipeline on Beam's DirectRunner (two worker processes): the same files as the local
command, bad inputs in one report, a rerun skips what is done."""

import json
import subprocess
import sys

from coretf import io as coretf_io
from coretf.preprocess import ice_batch
from coretf.synthetic import ice

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
