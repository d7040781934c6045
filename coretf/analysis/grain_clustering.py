"""Clusters of sediment particles an expert can name (Golikov et al. 2022, `seeds/003_*`, §2.2, §3).

The paper encodes every particle with the VAE's encoder (latent means), over-clusters them with
K-means (K = 100), looks at a UMAP map and at each cluster's particles. It could only judge the
clusters by eye; on synthetic data with true types this module measures them: purity, NMI and
ARI against the true types, at K = 100 and at K = the number of types, for the VAE latent and
for two baselines (raw pixels + PCA; hand-made colour / shape / focus features).

Outputs (all atomic): `clusters.csv` (particle -> cluster), `sample_counts.csv` (per-sample
counts per cluster), `cluster_centres.csv` (the fitted K-means, to which new particles are
assigned: `assign_clusters`), `latent_map.png` (UMAP via umap-learn, PCA when it is not installed),
`galleries/cluster_<k>.png` (a grid of each cluster's particles, sharpest layer), and with true
types `scores.json`. The command: `python -m coretf.analysis.grain_clusters`. NumPy,
scikit-learn, OpenCV, matplotlib; the encoder is a SavedModel (no coretf model code).
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from sklearn import cluster, decomposition, metrics, preprocessing

from coretf import io as coretf_io
from coretf import plots
from coretf.plots import plt


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


CENTRES_FILE = "cluster_centres.csv"  # the fitted K-means, beside clusters.csv


def write_centres(path: str, centres: np.ndarray) -> None:
    """`cluster_centres.csv`: one row per cluster, its centre's coordinates in full precision."""
    coretf_io.write_csv(path, ["cluster"] + [f"z{j}" for j in range(centres.shape[1])],
                        [[c] + [repr(float(v)) for v in row] for c, row in enumerate(centres)])


def read_centres(path: str) -> np.ndarray:
    """The (K, D) centres of a `cluster_centres.csv` (or of the folder holding one).

    Raises:
        ValueError: the file is missing or malformed (the file named).
    """
    if os.path.isdir(path):
        path = os.path.join(path, CENTRES_FILE)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no fitted cluster centres (python -m coretf.analysis.grain_clusters "
                         f"writes {CENTRES_FILE} beside clusters.csv)")
    rows = coretf_io.read_csv(path)
    try:
        centres = np.array([[float(v) for k, v in row.items() if k != "cluster"] for row in rows], np.float64)
        order = [int(row["cluster"]) for row in rows]
    except (KeyError, ValueError) as error:
        raise ValueError(f"{path}: not a table of cluster centres ({error})") from None
    if not len(rows) or order != list(range(len(rows))) or centres.ndim != 2 or not np.all(np.isfinite(centres)):
        raise ValueError(f"{path}: expected clusters 0..K-1 in order with finite coordinates")
    return centres


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


def sharpest_layer(stack: np.ndarray) -> np.ndarray:
    """The focal layer (S, S, 3) with the largest variance of the Laplacian."""
    return stack[int(np.argmax([cv2.Laplacian(cv2.cvtColor(layer, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var()
                                for layer in stack]))]


def save_gallery(path: str, layers: np.ndarray, columns: int = 8, tile: int = 96, title: str = "") -> None:
    """A grid of particles (their sharpest layers, tile x tile px each, 2 px gaps) under a title."""
    rows = -(-len(layers) // columns)
    sheet = np.full((rows * (tile + 2), min(columns, len(layers)) * (tile + 2), 3), 255, np.uint8)
    for i, stack in enumerate(layers):
        r, c = divmod(i, columns)
        sheet[r * (tile + 2):r * (tile + 2) + tile, c * (tile + 2):c * (tile + 2) + tile] = cv2.resize(
            sharpest_layer(stack), (tile, tile), interpolation=cv2.INTER_AREA)
    height, width = sheet.shape[:2]
    figure = plt.figure(figsize=(width / 100, height / 100 + 0.35), dpi=100)
    axis = figure.add_axes((0, 0, 1, height / (height + 35)))
    axis.imshow(sheet, interpolation="nearest")
    axis.axis("off")
    if title:
        figure.suptitle(title, fontsize=10, y=0.995, va="top")
    plots.save_figure(figure, path, dpi=100, tight=False)


# Types are drawn with these markers in black-edged dark colours, clusters with numbers on a
# continuous colour map, so that the two panels' colours do not suggest a correspondence.
_TYPE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def save_map(path: str, coords: np.ndarray, labels: np.ndarray, method: str,
             true: np.ndarray | None = None, type_names: tuple[str, ...] = ()) -> None:
    """Scatter of the 2-D map by cluster (cluster ids written at their centres) and by true type."""
    panels = 2 if true is not None else 1
    figure, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 6), squeeze=False)
    k = int(labels.max()) + 1
    axes[0, 0].scatter(coords[:, 0], coords[:, 1], c=labels, cmap="turbo", vmin=0, vmax=max(k - 1, 1),
                       s=6, alpha=0.7)
    for c in range(k):
        members = coords[labels == c]
        if len(members):
            x, y = np.median(members, axis=0)
            axes[0, 0].text(x, y, str(c), fontsize=7, ha="center", va="center",
                            bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))
    axes[0, 0].set_title(f"{method.upper()} of the latent means: {k} clusters\n(number = cluster id, "
                         "at its members' median)", fontsize=10)
    if true is not None:
        colours = plt.get_cmap("Dark2")
        for i, t in enumerate(np.unique(true)):
            chosen = true == t
            name = type_names[t] if t < len(type_names) else str(t)
            axes[0, 1].scatter(coords[chosen, 0], coords[chosen, 1], s=10, color=colours(i % 8),
                               marker=_TYPE_MARKERS[i % len(_TYPE_MARKERS)], label=f"{name} ({chosen.sum()})")
        axes[0, 1].legend(fontsize=8, markerscale=2, title="true type (particles)")
        axes[0, 1].set_title("by true type", fontsize=10)
    for axis in axes.ravel():
        axis.set_xlabel(f"{method.upper()} 1")
        axis.set_ylabel(f"{method.upper()} 2")
    plots.save_figure(figure, path)


def write_outputs(output: str, latent: np.ndarray, layers, samples: np.ndarray, ids: list[str], *,
                  k: int = 100, seed: int = 0, gallery_size: int = 40,
                  centres: np.ndarray | None = None) -> np.ndarray:
    """K-means on the latent means (or the nearest of fitted `centres`) and every output file
    except the map and the scores.

    Args:
        output: folder.
        latent: (N, D) latent means.
        layers: (N, 6, S, S, 3) uint8 crops, or a function of particle indices returning their
            crops (only the particles shown in the galleries are read).
        samples: (N,) sample id of each particle.
        ids: N particle ids (e.g. "<sample>/<position>/<particle>").
        k: number of clusters.
        gallery_size: particles shown per cluster gallery.
        centres: (K, D) fitted centres (`read_centres`): assign to them instead of fitting, and
            write no `cluster_centres.csv`.

    Returns:
        (N,) cluster of each particle.
    """
    if centres is None:
        labels, fitted = fit_kmeans(latent, k, seed)
        write_centres(os.path.join(output, CENTRES_FILE), fitted)
    else:
        labels = assign_clusters(latent, centres)
    write_cluster_tables(output, labels, samples, ids, clusters=len(centres) if centres is not None else None)
    load = layers if callable(layers) else (lambda indices: layers[indices])
    rng = np.random.default_rng(seed)
    for c in range(labels.max() + 1):
        members = np.nonzero(labels == c)[0]
        if not len(members):
            continue
        shown = np.sort(rng.choice(members, min(gallery_size, len(members)), replace=False))
        save_gallery(os.path.join(output, "galleries", f"cluster_{c:03d}.png"), load(shown),
                     title=f"cluster {c}: {len(members)} particles ({len(shown)} shown, sharpest layer)")
    return labels


def write_cluster_tables(output: str, labels: np.ndarray, samples: np.ndarray, ids: list[str],
                         clusters: int | None = None) -> None:
    """`clusters.csv` (particle, sample, cluster) and `sample_counts.csv` (per cluster, the
    particles of each sample; `clusters` rows, default the largest cluster + 1)."""
    coretf_io.write_csv(os.path.join(output, "clusters.csv"), ["particle", "sample", "cluster"],
                        [[i, s, int(c)] for i, s, c in zip(ids, samples, labels)])
    names = sorted(set(samples))
    counts = [[c] + [int(np.sum((labels == c) & (samples == s))) for s in names]
              for c in range(clusters or labels.max() + 1)]
    coretf_io.write_csv(os.path.join(output, "sample_counts.csv"), ["cluster", *names], counts)


def read_crops(folder: str) -> dict:
    """The particles of a `coretf.preprocess.grains` output folder.

    Returns:
        {"layers": (N, L, S, S, 3) uint8, "sample_id", "id": (N,) str, "box": (N, 4) int32,
        "edge": (N,) bool}; crops that cannot be read are reported in the error.

    Raises:
        ValueError: no particles.csv, or a crop is missing or not L square tiles side by side.
    """
    table = os.path.join(folder, "particles.csv")
    if not os.path.exists(table):
        raise ValueError(f"{table}: missing (run python -m coretf.preprocess.grains first)")
    rows = coretf_io.read_csv(table)
    if not rows:
        raise ValueError(f"{table}: lists no particles")
    stacks = [read_crop(os.path.join(folder, row["crop"])) for row in rows]
    return {"layers": np.stack(stacks), "sample_id": np.array([r["sample"] for r in rows]),
            "id": [particle_id(r) for r in rows],
            "box": np.array([[int(r[k]) for k in ("y0", "x0", "y1", "x1")] for r in rows], np.int32),
            "edge": np.array([r["edge"] == "1" for r in rows])}


def particle_id(row: dict) -> str:
    """"<sample>/<position>/<particle, 3 digits>" of a particles.csv row."""
    return f"{row['sample']}/{row['position']}/{int(row['particle']):03d}"


def read_crop(path: str) -> np.ndarray:
    """One particle's crop file (its L layers side by side) as (L, S, S, 3) uint8.

    Raises:
        ValueError: unreadable, or not L square tiles side by side (the file named).
    """
    sheet = coretf_io.read_image(path)
    size = sheet.shape[0]
    if sheet.ndim != 3 or sheet.shape[1] % size:
        raise coretf_io.ImageError(f"{path}: expected square layer tiles side by side, got {sheet.shape}")
    return np.stack(np.split(coretf_io.to_uint8(sheet[..., :3]), sheet.shape[1] // size, axis=1))


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


def write_clusters(output: str, latent: np.ndarray, particles: dict, *, k: int = 100, seed: int = 0,
                   centres: np.ndarray | None = None) -> tuple[np.ndarray, str, dict | None]:
    """Every output of `grain_clusters` from the particles' latent means: the clusters (fitted,
    or assigned to `centres`), their tables and galleries, the map and, with true types, the
    scores (`scores.json`).

    Args:
        particles: "layers" ((N, ...) crops, or a function of indices returning them),
            "sample_id", "id" and optionally "type" (as `read_crops` returns).

    Returns:
        ((N,) cluster of each particle, the map's method: "umap" or "pca", the scores or None).
    """
    labels = write_outputs(output, latent, particles["layers"], particles["sample_id"], particles["id"],
                           k=k, seed=seed, centres=centres)
    coords, method = embed_2d(latent, seed)
    true, names, report = None, (), None
    if "type" in particles:
        from coretf_datasets.sediment_grains.sediment_grains_dataset_builder import TYPE_NAMES, UNKNOWN

        true, names = particles["type"], TYPE_NAMES
        report = score_against_types(latent, particles, UNKNOWN, k, seed)
        if report:
            coretf_io.write_json(os.path.join(output, "scores.json"), report)
    save_map(os.path.join(output, "latent_map.png"), coords, labels, method, true, names)
    return labels, method, report
