"""scripts/rock_transfer.py's pieces on tiny data: fixtures' polarity, the scans, figures, the lab folder."""

import dataclasses
import importlib.util
import pathlib
import sys
import zipfile

import numpy as np
import pytest
from scipy import ndimage

from coretf.data import rock_ct as rock_data
from coretf.synthetic import rock_scan
from coretf_datasets.rock_ct import manual_stacks

REPO = pathlib.Path(__file__).resolve().parents[2]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture(scope="module")
def transfer():
    spec = importlib.util.spec_from_file_location("rock_transfer", REPO / "scripts" / "rock_transfer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["rock_transfer"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules["rock_transfer"]


def _volume(shape, seed, porosity=0.25):
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), 2.5)
    return field > np.quantile(field, 1 - porosity)  # True = pore


@pytest.fixture
def tiny(transfer, tmp_path, monkeypatch):
    """Tiny volumes in the fixtures' own formats and polarities, and scans of a few slices."""
    folder = tmp_path / "realdata" / transfer.PORESPY
    folder.mkdir(parents=True)
    bent, berea, leopard = _volume((40, 96, 96), 0), _volume((48, 48, 48), 1), _volume((16, 32, 32), 2)
    np.savez(folder / "bentheimer.npz", arr_0=bent)  # True = pore
    np.save(folder / "image_Leopard_slice100.npy", leopard.astype(np.int8))  # 1 = pore
    with zipfile.ZipFile(folder / "test_berea.zip", "w") as archive:  # 0 = pore, 255 = solid
        archive.writestr("berea.raw", np.where(berea, 0, 255).astype(np.uint8).tobytes())
    clean = dict(cupping=0.05, blur_px=0.5, noise_sd=0.02, rings=0.02)
    monkeypatch.setattr(transfer, "SCANS", {
        "Bentheimer": transfer.Scan("bentheimer.npz", tuple(range(0, 40, 2))[:16],
                                    rock_scan.RockScanner(factor=0.5, **clean)),
        "Berea": transfer.Scan("test_berea.zip", (3, 9), rock_scan.RockScanner(**clean)),
        "Leopard": transfer.Scan("image_Leopard_slice100.npy", (4, 8, 12), rock_scan.RockScanner(factor=2.0, **clean)),
    })
    transfer.render_scans(tmp_path / "realdata", tmp_path / "scans")
    return tmp_path, {"Bentheimer": bent, "Berea": berea, "Leopard": leopard}


def test_fixtures_are_read_with_pores_true(transfer, tiny):
    tmp_path, volumes = tiny
    for name, volume in volumes.items():
        read = transfer.read_fixture(tmp_path / "realdata" / transfer.PORESPY / transfer.SCANS[name].volume)
        np.testing.assert_array_equal(read, volume)
    with pytest.raises(ValueError, match="not a PoreSpy fixture"):
        transfer.read_fixture(tmp_path / "volume.tif")


@pytest.mark.skipif(not (REALDATA / "porespy_fixtures").exists(), reason="shared/realdata is absent")
def test_real_fixtures_have_the_provenance_porosity(transfer):
    for name, porosity in (("Bentheimer", 0.1997), ("Berea", 0.1990), ("Leopard", 0.2622)):
        volume = transfer.read_fixture(REALDATA / "porespy_fixtures" / transfer.SCANS[name].volume)
        assert volume.dtype == bool and volume.mean() == pytest.approx(porosity, abs=1e-3)


def test_scans_keep_their_truth_and_are_not_redone(transfer, tiny):
    tmp_path, volumes = tiny
    scans = tmp_path / "scans"
    image, truth = transfer.read_pair(scans, "Leopard", "Leopard_z0008")
    assert image.shape == truth.shape == (64, 64)  # factor 2
    expected = rock_scan.resample_pores(volumes["Leopard"][8], 2.0)[1]
    np.testing.assert_array_equal(truth, expected)
    mask = scans / "Berea" / "masks" / "Berea_z0003.png"
    before = mask.stat().st_mtime_ns
    transfer.render_scans(tmp_path / "realdata", scans)
    assert mask.stat().st_mtime_ns == before


def test_slice_sets_and_otsu_baselines(transfer, tiny):
    tmp_path, _ = tiny
    sets = transfer.slice_sets()
    assert list(sets) == ["Bentheimer_pool", "Bentheimer_heldout", "Berea", "Leopard"]
    assert len(sets["Bentheimer_heldout"][1]) == transfer.HELD_OUT and len(sets["Bentheimer_pool"][1]) == 8
    assert not set(sets["Bentheimer_pool"][1]) & set(sets["Bentheimer_heldout"][1])
    figures = transfer.baselines(tmp_path / "scans")
    for method in ("otsu", "median_otsu"):
        for name, f in figures[method].items():
            assert f["iou"] > 0.6, (method, name)  # a clean scanner: thresholds find the pores
            assert 0.15 < f["true_pore_fraction"] < 0.35  # the volumes are 25 % pore


def test_pore_figures_on_hand_drawn_masks(transfer):
    truth = [np.zeros((4, 4), bool), np.zeros((4, 4), bool)]
    truth[0][:2, :2] = True   # 4 pore pixels
    truth[1][0, :] = True     # 4 more
    predicted = [np.zeros((4, 4), bool), np.zeros((4, 4), bool)]
    predicted[0][:2, :3] = True  # 4 right, 2 wrong
    predicted[1][0, :2] = True   # 2 right, 2 missed
    figures = transfer.pore_figures(predicted, truth)
    assert figures == {"iou": round(6 / 10, 4), "pore_fraction": 0.25, "true_pore_fraction": 0.25, "slices": 2}


@pytest.mark.parametrize("labelled", [1, 2, 4, 8])
def test_the_lab_folder_trains_on_exactly_k_slices(transfer, tiny, labelled):
    tmp_path, _ = tiny
    lab = tmp_path / f"lab{labelled}"
    holdout = transfer.write_lab(lab, tmp_path / "scans", labelled)
    table = manual_stacks.read_table(lab)
    assert table == {"Bentheimer": "sandstone", "Berea": "sandstone", "Leopard": "sandstone"}
    stacks = {s: manual_stacks.read_stack(lab, s, r) for s, r in table.items()}
    assert stacks["Bentheimer"].split == "train" and stacks["Berea"].split == ""
    split = rock_data.split_out(stacks, ("Bentheimer",), holdout=holdout)
    assert split["Bentheimer"].image.shape[0] == labelled
    assert split["Bentheimer_holdout"].image.shape[0] == transfer.HELD_OUT
    pool, held = transfer.slice_sets()["Bentheimer_pool"][1], transfer.slice_sets()["Bentheimer_heldout"][1]
    first_held = transfer.read_pair(tmp_path / "scans", "Bentheimer", held[0])
    np.testing.assert_array_equal(split["Bentheimer_holdout"].image[0], first_held[0])
    np.testing.assert_array_equal(split["Bentheimer_holdout"].pores[0], first_held[1].astype(np.uint8))
    last_train = transfer.read_pair(tmp_path / "scans", "Bentheimer", pool[labelled - 1])
    np.testing.assert_array_equal(split["Bentheimer"].image[-1], last_train[0])


def test_table_lists_every_method_and_curve_point(transfer):
    sets = list(transfer.slice_sets())

    def figures(iou):
        return {s: {"iou": iou, "pore_fraction": 0.2, "true_pore_fraction": 0.19} for s in sets}

    curve_sets = [s for s in sets if s != "Bentheimer_pool"]
    results = {
        "baselines": {"otsu": figures(0.6), "median_otsu": figures(0.7)},
        "zero_shot": {"synthetic_small": {**figures(0.5), "train_seconds": 10.0},
                      "synthetic_varied": {**figures(0.65), "train_seconds": 12.0}},
        "curve": {"n1_scratch": {"seeds": {"0": {}, "1": {}}, "mean": {s: 0.7 for s in curve_sets},
                                 "min": {s: 0.68 for s in curve_sets}, "max": {s: 0.72 for s in curve_sets},
                                 "train_seconds": 80.0}},
    }
    text = transfer.table(results)
    assert "| Otsu | 0.600 (0.200 / 0.190) |" in text
    assert "| U-Net trained on `synthetic_varied` only | 0.650 (0.200 / 0.190) |" in text
    assert "(mean of 2 seed(s)" in text
    assert "| 1 | scratch | 0.700 (0.680-0.720) | 0.700 (0.680-0.720) | 0.700 (0.680-0.720) | 80 |" in text
    assert "| 0 | synthetic (zero shot) | 0.650 | 0.650 | 0.650 | 12 |" in text
