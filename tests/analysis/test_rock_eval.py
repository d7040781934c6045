"""Threshold sweeps, PR-AUC, the cross-rock-type table, heat map and the claims check."""


import numpy as np
import pytest

from coretf import io as coretf_io
from coretf.analysis import rock_eval


def _counts():
    # 8 pixels: pores (truth 1) at 0.9, 0.8, 0.3; solid at 0.6, 0.2, 0.1, 0.1, 0.05.
    counts = rock_eval.ThresholdCounts()
    counts.update(np.array([[0.9, 0.8, 0.3, 0.6], [0.2, 0.1, 0.1, 0.05]]),
                  np.array([[1, 1, 1, 0], [0, 0, 0, 0]]))
    return counts


def test_sweep_counts_match_hand_confusion_matrices():
    sweep = _counts().sweep([0.25, 0.5, 0.7, 0.95])
    # t=0.25: TP 3, FP 1, FN 0 -> IoU 3/4; t=0.5: TP 2, FP 1, FN 1 -> 2/4; t=0.7: TP 2, FP 0 -> 2/3.
    np.testing.assert_allclose(sweep["iou"], [0.75, 0.5, 2 / 3, 0.0])
    np.testing.assert_allclose(sweep["accuracy"], [7 / 8, 6 / 8, 7 / 8, 5 / 8])
    np.testing.assert_allclose(sweep["precision"][:3], [0.75, 2 / 3, 1.0])
    assert np.isnan(sweep["precision"][3])  # nothing predicted pore
    np.testing.assert_allclose(sweep["recall"], [1.0, 2 / 3, 2 / 3, 0.0])
    expected_logloss = -np.mean(np.log([0.9, 0.8, 0.3, 0.4, 0.8, 0.9, 0.9, 0.95]))
    np.testing.assert_allclose(sweep["logloss"], expected_logloss, rtol=1e-9)


def test_pr_auc_is_average_precision():
    # Ranked: 0.9 P, 0.8 P, 0.6 N, 0.3 P -> AP = (1 + 1 + 3/4) / 3.
    assert _counts().pr_auc() == pytest.approx((1 + 1 + 0.75) / 3)
    perfect = rock_eval.ThresholdCounts()
    perfect.update(np.array([0.9, 0.1]), np.array([1, 0]))
    assert perfect.pr_auc() == pytest.approx(1.0)


def test_accumulates_over_slices_and_checks_shapes():
    counts = _counts()
    counts.update(np.array([0.95]), np.array([1]))
    assert counts.pixels == 9
    assert counts.at(0.5)["iou"] == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="differ"):
        counts.update(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="no pixels"):
        rock_eval.ThresholdCounts().sweep()


def test_plateau_is_the_range_within_tolerance_of_the_best():
    sweep = {"threshold": np.array([0.1, 0.3, 0.5, 0.7, 0.9]),
             "iou": np.array([0.50, 0.795, 0.80, 0.792, 0.60])}
    assert rock_eval.plateau(sweep, "iou", tolerance=0.01) == (0.3, 0.7)


def _rows():
    rows = []
    for model, own in (("carbonate", "carbonate"), ("soil", "soil"), ("all", None)):
        for stack, rock in (("carbonate_1", "carbonate"), ("carbonate_2", "carbonate"),
                            ("soil_1", "soil"), ("soil_2", "soil")):
            iou = 0.9 if rock == own else (0.2 if own else 0.7)
            rows.append({"model": model, "stack": stack, "rock_type": rock,
                         "in_sample": stack.endswith("_1") and (own is None or rock == own),
                         "logloss": 1 - iou, "iou": iou, "accuracy": iou, "precision": iou,
                         "recall": iou, "pr_auc": iou})
    return rows


def test_tables_mark_in_sample_and_average_out_of_sample(tmp_path):
    rows = _rows()
    rows[5]["precision"] = None  # undefined (nothing predicted pore), null in metrics.json
    rock_eval.write_tables(rows, str(tmp_path / "t.csv"), str(tmp_path / "t.md"),
                           models=["carbonate", "soil", "all"],
                           stacks=["carbonate_1", "carbonate_2", "soil_1", "soil_2"], threshold=0.5)
    table = coretf_io.read_csv(tmp_path / "t.csv")
    assert len(table) == 12
    assert {r["stack"] for r in table if r["in_sample"] == "True" and r["model"] == "all"} == {
        "carbonate_1", "soil_1"}
    markdown = (tmp_path / "t.md").read_text()
    assert "| carbonate_2 | carbonate | 0.900 | n/a | 0.700 |" in markdown.split("### precision")[1]
    assert [r["precision"] for r in table if r["model"] == "soil" and r["stack"] == "carbonate_2"] == [""]
    assert "| carbonate_1 | carbonate | 0.900* | 0.200 | 0.700* |" in markdown
    # out-of-sample IoU mean of the carbonate model: carbonate_2 0.9, soil_1 0.2, soil_2 0.2
    assert f"| **out-of-sample mean** | | **{(0.9 + 0.2 + 0.2) / 3:.3f}** |" in markdown
    with pytest.raises(ValueError, match="no figures"):
        rock_eval.write_tables(rows[:-1], str(tmp_path / "x.csv"), str(tmp_path / "x.md"),
                               models=["carbonate", "soil", "all"],
                               stacks=["carbonate_1", "carbonate_2", "soil_1", "soil_2"], threshold=0.5)
    rock_eval.save_heatmap(str(tmp_path / "h.png"), rows, models=["carbonate", "soil", "all"],
                           stacks=["carbonate_1", "carbonate_2", "soil_1", "soil_2"])
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


def test_claims_on_a_table_where_both_hold():
    result = rock_eval.claims(_rows(), specific={"carbonate": "carbonate", "soil": "soil"},
                              aggregate="all")
    assert result["specific"]["carbonate"] == {"model": "carbonate", "own": pytest.approx(0.9),
                                               "other": pytest.approx(0.2), "rank_on_own": 1,
                                               "best_on_own": "carbonate"}
    # out-of-sample means: all 0.7; carbonate (0.9 + 0.2 + 0.2) / 3; soil (0.2 + 0.2 + 0.9) / 3
    assert result["aggregate_rank"] == 1 and result["best_mean"] == "all"
    assert result["model_means"]["all"] == pytest.approx(0.7)


def test_ignored_pixels_are_left_out_of_every_figure():
    from coretf.labels import IGNORE

    probability = np.array([0.9, 0.2, 0.7, 0.99, 0.01])
    truth = np.array([1, 0, 1, IGNORE, IGNORE])
    with_ignored, without = rock_eval.ThresholdCounts(), rock_eval.ThresholdCounts()
    with_ignored.update(probability, truth)
    without.update(probability[:3], truth[:3])
    assert with_ignored.pixels == 3
    for key, values in with_ignored.sweep().items():
        np.testing.assert_allclose(values, without.sweep()[key], equal_nan=True)
