"""Cluster scores (golden values), baselines on separable data, and the output files."""

import numpy as np
import pytest

from coretf import io as coretf_io
from coretf.analysis import grain_cluster_files, grain_clustering


def test_purity_and_scores_golden():
    true = np.array([0, 0, 0, 1, 1, 1])
    assert grain_clustering.purity(true, np.array([0, 0, 1, 1, 1, 1])) == pytest.approx(5 / 6)
    perfect = grain_clustering.cluster_scores(true, np.array([2, 2, 2, 5, 5, 5]))
    assert perfect == {key: pytest.approx(1.0) for key in ("purity", "nmi", "ami", "ari", "homogeneity")}
    single = grain_clustering.cluster_scores(true, np.zeros(6, int))
    assert single["purity"] == 0.5 and single["nmi"] == pytest.approx(0.0) and single["ari"] == pytest.approx(0.0)
    # Pure singletons: homogeneity 1, but NMI = 2 I / (H(types) + H(clusters)) = 2 ln 2 / (ln 2 + ln 6).
    split = grain_clustering.cluster_scores(true, np.arange(6))
    assert split["homogeneity"] == pytest.approx(1.0) and split["purity"] == 1.0
    assert split["nmi"] == pytest.approx(2 * np.log(2) / (np.log(2) + np.log(6)))


def _two_kinds(n=20, size=16):
    """Bright and dark square 'particles' on green, six layers each."""
    rng = np.random.default_rng(0)
    layers = np.zeros((n, 6, size, size, 3), np.uint8)
    layers[...] = (40, 180, 55)
    true = np.arange(n) % 2
    for i in range(n):
        layers[i, :, 4:12, 4:12] = (230, 225, 210) if true[i] else (40, 35, 30)
        layers[i] = np.clip(layers[i] + rng.integers(-10, 10, layers[i].shape), 0, 255)
    return layers, true


def test_baseline_features_separate_two_kinds():
    layers, true = _two_kinds()
    scores = grain_clustering.compare({"raw": grain_clustering.raw_pixel_features(layers, components=5)}, true, (2,))
    assert scores["raw"]["K=2"]["nmi"] == pytest.approx(1.0)
    features = grain_clustering.colour_shape_features(layers, np.tile([0, 0, 8, 16], (20, 1)), np.zeros(20, bool))
    assert features.shape == (20, 7 + 6 + 2 + 1)
    value = features[:, 4]  # mean HSV value of the sharpest layer
    assert value[true == 1].min() > value[true == 0].max()


def test_outputs_csvs_and_galleries(tmp_path):
    layers, true = _two_kinds()
    samples = np.array(["A" if i < 10 else "B" for i in range(20)])
    latent = true[:, None].astype(np.float32) + np.random.default_rng(1).normal(0, 0.01, (20, 3))
    labels = grain_cluster_files.write_outputs(str(tmp_path), latent, layers, samples, [f"p{i}" for i in range(20)], k=2)
    assert grain_clustering.cluster_scores(true, labels)["ari"] == pytest.approx(1.0)
    counts = coretf_io.read_csv(tmp_path / "sample_counts.csv")
    assert list(counts[0]) == ["cluster", "A", "B"] and sum(int(r["A"]) + int(r["B"]) for r in counts) == 20
    assert len(coretf_io.read_csv(tmp_path / "clusters.csv")) == 20
    gallery = coretf_io.read_image(tmp_path / "galleries" / "cluster_000.png")
    # 10 particles: two rows of eight 96 px tiles under a 35 px title band
    assert gallery.shape[:2] == (2 * 98 + 35, 8 * 98)
    coords, method = grain_clustering.embed_2d(latent)
    assert coords.shape == (20, 2) and method in ("umap", "pca")


def test_dihedral_encoding_does_not_depend_on_orientation():
    rng = np.random.default_rng(1)
    layers = rng.integers(0, 256, (5, 6, 8, 8, 3), dtype=np.uint8)
    weights = rng.normal(size=(6 * 8 * 8 * 3, 4)).astype(np.float32)
    encode = lambda x: x.reshape(len(x), -1) @ weights  # noqa: E731  (orientation-sensitive)
    views = grain_clustering.dihedral_views(layers)
    assert len({v.tobytes() for v in views}) == 8
    np.testing.assert_array_equal(views[1][0, 0], np.rot90(layers[0, 0]))
    np.testing.assert_array_equal(views[4][0, 0], layers[0, 0, :, ::-1])
    turned = np.rot90(layers, 1, axes=(2, 3))[:, :, ::-1]  # rotated, then flipped top-bottom
    invariant = grain_clustering.encode_particles(encode, layers, batch=2)
    np.testing.assert_allclose(grain_clustering.encode_particles(encode, turned, batch=3), invariant, rtol=1e-4, atol=1e-3)
    plain = grain_clustering.encode_particles(encode, layers, dihedral=False)
    np.testing.assert_allclose(plain, encode(layers.astype(np.float32) / 255.0), rtol=1e-5)
    assert not np.allclose(grain_clustering.encode_particles(encode, turned, dihedral=False), plain, atol=1e-2)


def test_cluster_stability_over_kmeans_seeds():
    rng = np.random.default_rng(4)
    true = np.repeat([0, 1, 2], 30)
    separated = np.eye(3)[true] * 10 + rng.normal(0, 0.1, (90, 3))  # three tight groups: every seed agrees
    report = grain_clustering.cluster_stability(separated, true, (3,), seeds=(0, 1, 2))
    assert report["K=3"]["pairwise_ari"] == {"mean": pytest.approx(1.0), "sd": pytest.approx(0.0)}
    assert report["K=3"]["purity"]["mean"] == pytest.approx(1.0) and report["K=3"]["purity"]["sd"] == pytest.approx(0.0)
    noise = rng.normal(0, 1, (90, 3))  # no structure: the partitions depend on the seed
    unstable = grain_clustering.cluster_stability(noise, true, (6,), seeds=(0, 1, 2, 3))
    assert unstable["K=6"]["pairwise_ari"]["mean"] < 0.9 and unstable["K=6"]["pairwise_ari"]["sd"] > 0
