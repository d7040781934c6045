"""The builders' split schemes: whole items, and depth blocks of one specimen."""

import pytest

from coretf_datasets import splits


def test_assign_splits_is_whole_sections_and_deterministic():
    ids = [f"S{i:04d}" for i in range(15)]
    assigned = splits.assign_splits(ids, seed=0, test_fraction=0.4, validation_fraction=0.2)
    counts = {s: sum(v == s for v in assigned.values()) for s in ("train", "validation", "test")}
    assert counts == {"train": 7, "validation": 2, "test": 6}
    assert assigned == splits.assign_splits(list(reversed(ids)), seed=0, test_fraction=0.4,
                                            validation_fraction=0.2)
    with pytest.raises(ValueError, match="at least 3 sections"):
        splits.assign_splits(ids[:2], seed=0, test_fraction=0.4, validation_fraction=0.2)


def test_split_is_lowest_fifth_for_test():
    assert [splits.split_of(k, 10) for k in range(10)] == ["train"] * 7 + ["validation"] + ["test"] * 2
    assert [splits.split_of(k, 48) for k in range(48)].count("test") == 10
    assert [splits.split_of(k, 4) for k in range(4)] == ["train", "train", "validation", "test"]
    with pytest.raises(ValueError, match="at least 3"):
        splits.split_of(0, 2)
