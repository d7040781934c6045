"""Clusters of sediment particles an expert can name (Golikov et al. 2022, `seeds/003_*`, §2.2, §3).

The paper encodes every particle with the VAE's encoder (latent means), over-clusters them with
K-means (K = 100), looks at a UMAP map and at each cluster's particles. It could only judge the
clusters by eye; on synthetic data with true types this module measures them: purity, NMI and
ARI against the true types, at K = 100 and at K = the number of types, for the VAE latent and
for two baselines (raw pixels + PCA; hand-made colour / shape / focus features).

The methods are here: the scores, the two baselines' features, K-means (fitted, and the
assignment of new particles to fitted centres), its stability over seeds, the 2-D embedding
(UMAP via umap-learn, PCA when it is not installed) and the encoding of particles through an
exported encoder. Reading a grains output and writing the files of
`python -m coretf.analysis.grain_clusters` are in `coretf.analysis.grain_cluster_files`. NumPy,
scikit-learn, OpenCV; the encoder is a SavedModel (no coretf model code).
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn import cluster, decomposition, metrics, preprocessing


def purity(true: np.ndarray, predicted: np.ndarray) -> float:
    """Share of particles whose cluster's majority true type is their own type."""
    total = 0
    for c in np.unique(predicted):
        total += np.bincount(true[predicted == c]).max()
    return total / len(true)


def cluster_scores(true: np.ndarray, predicted: np.ndarray) -> dict:
    """Scores of a clustering against true labels (both (N,) ints).

    purity, NMI (arithmetic normalisation) and ARI as usually reported; AMI (NMI corrected for
    chance) and homogeneity (mutual information / H(types): how well a particle's cluster tells
    its type) for over-clustering. At K = 100 over six types NMI also rewards uneven cluster
    sizes (H(clusters) is in its denominator), so a feature set with more information about the
    types can score a lower NMI; homogeneity is what an expert naming clusters relies on.
    """
    return {"purity": float(purity(true, predicted)),
            "nmi": float(metrics.normalized_mutual_info_score(true, predicted)),
            "ami": float(metrics.adjusted_mutual_info_score(true, predicted)),
            "ari": float(metrics.adjusted_rand_score(true, predicted)),
            "homogeneity": float(metrics.homogeneity_score(true, predicted))}


def kmeans_labels(features: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """K-means cluster of each row of `features` (K capped at N), Euclidean as in the paper."""
    return fit_kmeans(features, k, seed)[0]


def fit_kmeans(features: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """K-means on the rows of `features` (K capped at N): (N,) int32 clusters, (K, D) float64 centres.

    Features are not standardised here: that would blow up latent dimensions the VAE left
    unused (posterior collapse: near-constant means) and the PCA baseline's noise components.
    """
    model = cluster.KMeans(n_clusters=min(k, len(features)), n_init=4, random_state=seed)
    labels = model.fit_predict(np.asarray(features, np.float64)).astype(np.int32)
    return labels, model.cluster_centers_


def assign_clusters(features: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N,) int32: the nearest of the fitted `centres` (K, D) to each row, Euclidean (K-means'
    own assignment), so that new particles join the clusters an expert has already named."""
    features = np.asarray(features, np.float64)
    if features.shape[1:] != centres.shape[1:]:
        raise ValueError(f"the latent has {features.shape[1]} dimensions, the fitted centres {centres.shape[1]} "
                         "(fitted with another encoder?)")
    distances = ((features[:, None, :] - centres[None]) ** 2).sum(-1)
    return distances.argmin(1).astype(np.int32)


def raw_pixel_features(layers: np.ndarray, components: int = 50, size: int = 32, seed: int = 0) -> np.ndarray:
    """Baseline 1: the six layers' pixels (resized to size x size), reduced by PCA.

    Args:
        layers: (N, 6, S, S, 3) uint8 crops.

    Returns:
        (N, min(components, N)) float32.
    """
    small = np.stack([[cv2.resize(layer, (size, size), interpolation=cv2.INTER_AREA) for layer in stack]
                      for stack in layers]).reshape(len(layers), -1).astype(np.float32) / 255.0
    pca = decomposition.PCA(n_components=min(components, len(layers)), random_state=seed)
    return pca.fit_transform(small).astype(np.float32)


def colour_shape_features(layers: np.ndarray, boxes: np.ndarray | None = None,
                          edges: np.ndarray | None = None) -> np.ndarray:
    """Baseline 2: what an analyst would measure by hand.

    Per particle: mean and SD of HSV hue, saturation and value over the sharpest layer, the
    dark-pixel share, the focus profile (variance of the Laplacian in each layer, normalised),
    and from the box (when given) log area and aspect ratio, plus the frame-edge flag.

    Returns:
        (N, F) float32, each column standardised over the N particles.
    """
    rows = []
    for index, stack in enumerate(layers):
        sharpness = np.array([cv2.Laplacian(cv2.cvtColor(layer, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var()
                              for layer in stack])
        hsv = cv2.cvtColor(stack[int(sharpness.argmax())].astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
        hue = np.deg2rad(hsv[..., 0])
        row = [np.cos(hue).mean(), np.sin(hue).mean(), hsv[..., 1].mean(), hsv[..., 1].std(),
               hsv[..., 2].mean(), hsv[..., 2].std(), (hsv[..., 2] < 0.3).mean()]
        row += list(sharpness / (sharpness.sum() + 1e-9))
        if boxes is not None:
            h, w = boxes[index, 2] - boxes[index, 0], boxes[index, 3] - boxes[index, 1]
            row += [np.log(h * w), np.log(w / h)]
        if edges is not None:
            row.append(float(edges[index]))
        rows.append(row)
    # Standardised: the measurements have different units.
    return preprocessing.StandardScaler().fit_transform(np.array(rows, np.float64)).astype(np.float32)


def compare(features: dict[str, np.ndarray], true: np.ndarray, ks: tuple[int, ...], seed: int = 0) -> dict:
    """Scores of K-means on each feature set: {name: {"K=<k>": cluster_scores}}."""
    return {name: {f"K={k}": cluster_scores(true, kmeans_labels(values, k, seed)) for k in ks}
            for name, values in features.items()}


def cluster_stability(features: np.ndarray, true: np.ndarray, ks: tuple[int, ...], seeds: tuple[int, ...]) -> dict:
    """How much the clusters depend on K-means' seed: {"K=<k>": {score: {"mean", "sd"} over the
    seeds (`cluster_scores` against the true types), "pairwise_ari": {"mean", "sd"} (the adjusted
    Rand index between the clusterings of every two seeds: 1 = the same partition)}}."""
    report = {}
    for k in ks:
        labels = [kmeans_labels(features, k, seed) for seed in seeds]
        scores = [cluster_scores(true, found) for found in labels]
        pairs = [metrics.adjusted_rand_score(labels[i], labels[j])
                 for i in range(len(labels)) for j in range(i + 1, len(labels))]
        report[f"K={k}"] = {name: {"mean": float(np.mean([s[name] for s in scores])),
                                   "sd": float(np.std([s[name] for s in scores]))} for name in scores[0]}
        report[f"K={k}"]["pairwise_ari"] = {"mean": float(np.mean(pairs)), "sd": float(np.std(pairs))}
    return report


def score_against_types(latent: np.ndarray, particles: dict, unknown: int, k: int = 100, seed: int = 0,
                        stability_seeds: int = 5) -> dict | None:
    """Purity / NMI / ARI of the latent and both baselines at K = k and K = number of types.

    Args:
        latent: (N, D) latent means.
        particles: "layers" (N, 6, S, S, 3) uint8, "box" (N, 4), "edge" (N,), "type" (N,) ints.
        unknown: the type index of particles without a true type (left out).

    Returns:
        {"particles", "types", "scores": compare(...), "stability": the latent's
        `cluster_stability` over `stability_seeds` K-means seeds from `seed`}, or None with fewer
        than two typed particles.
    """
    known = particles["type"] != unknown
    if known.sum() < 2:
        return None
    true = particles["type"][known]
    features = {"vae_latent": latent[known],
                "raw_pixels_pca": raw_pixel_features(particles["layers"][known], seed=seed),
                "colour_shape": colour_shape_features(particles["layers"][known], particles["box"][known],
                                                      particles["edge"][known])}
    ks = tuple(sorted({k, len(np.unique(true))}))
    seeds = tuple(range(seed, seed + stability_seeds))
    return {"particles": int(known.sum()), "types": int(len(np.unique(true))),
            "scores": compare(features, true, ks, seed),
            "stability": {"seeds": list(seeds), "vae_latent": cluster_stability(latent[known], true, ks, seeds)}}


def score_lines(report: dict) -> list[str]:
    """One console line per feature set of a `score_against_types` report, and one on the
    latent's stability over K-means seeds."""
    lines = [f"{name}: " + "; ".join(f"{k} purity {s['purity']:.3f} NMI {s['nmi']:.3f} AMI {s['ami']:.3f} "
                                     f"ARI {s['ari']:.3f} homogeneity {s['homogeneity']:.3f}"
                                     for k, s in by_k.items()) for name, by_k in report["scores"].items()]
    stability = report.get("stability")
    if stability:
        lines.append(f"vae_latent over K-means seeds {stability['seeds'][0]}-{stability['seeds'][-1]}: " + "; ".join(
            f"{k} purity {s['purity']['mean']:.3f} +- {s['purity']['sd']:.3f}, ARI between seeds "
            f"{s['pairwise_ari']['mean']:.3f} +- {s['pairwise_ari']['sd']:.3f}"
            for k, s in stability["vae_latent"].items()))
    return lines


def embed_2d(features: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D map of the latent space for the picture only: UMAP, or PCA when umap-learn is missing.

    Returns:
        ((N, 2) float32, "umap" or "pca").
    """
    try:
        import umap  # umap-learn; optional at run time
    except ImportError:
        umap = None
    if umap is not None and len(features) > 15:
        reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(features) - 1))
        return reducer.fit_transform(features).astype(np.float32), "umap"
    return decomposition.PCA(n_components=2, random_state=seed).fit_transform(features).astype(np.float32), "pca"


def dihedral_views(layers: np.ndarray) -> list[np.ndarray]:
    """The eight dihedral views of (N, L, S, S, 3) stacks: rotations by k x 90 degrees
    anticlockwise (k = 0..3), then the same mirrored left-right (`coretf.data.sediment_grains.dihedral_view`)."""
    turned = [np.rot90(layers, k, axes=(2, 3)) for k in range(4)]
    return [np.ascontiguousarray(t) for t in turned] + [np.ascontiguousarray(t[:, :, :, ::-1]) for t in turned]


def encode_particles(encode_batch, layers: np.ndarray, *, dihedral: bool = True, batch: int = 32) -> np.ndarray:
    """Latent means of (N, 6, S, S, 3) uint8 crops, batch by batch.

    Args:
        encode_batch: float32 (B, 6, S, S, 3) in [0, 1] -> (B, D) latent means.
        dihedral: average each particle's latent mean over its eight dihedral views, so that how
            a grain lies on the plate does not decide its cluster.

    Returns:
        (N, D) float32.
    """
    means = []
    for i in range(0, len(layers), batch):
        chunk = layers[i:i + batch]
        views = dihedral_views(chunk) if dihedral else [chunk]
        means.append(np.mean([np.asarray(encode_batch(v.astype(np.float32) / 255.0)) for v in views], axis=0))
    return np.concatenate(means).astype(np.float32)


def saved_model_encoder(export_dir: str, *, dihedral: bool = True):
    """`encode_particles` by an exported encoder (or full) SavedModel, loaded once: a function of
    (N, 6, S, S, 3) uint8 crops returning their (N, D) latent means.

    Raises:
        ValueError: the export cannot be loaded; (from the function) crops of another shape.
    """
    from coretf import serving

    served = serving.load(export_dir, job="sediment_grains")
    expected = served.input_shape[1:]

    def encode(layers: np.ndarray) -> np.ndarray:
        if tuple(layers.shape[1:]) != expected:
            raise ValueError(f"{export_dir}: the encoder takes particles of shape {expected} (layers, px, px, "
                             f"RGB), got {tuple(layers.shape[1:])}: extract with the crop size it was trained on")
        return encode_particles(lambda x: served(x)["z_mean"], layers, dihedral=dihedral)

    return encode


def encode_with_saved_model(export_dir: str, layers: np.ndarray, *, dihedral: bool = True) -> np.ndarray:
    """`encode_particles` by an exported encoder (or full) SavedModel."""
    return saved_model_encoder(export_dir, dihedral=dihedral)(layers)
