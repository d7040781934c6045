"""The files of grain clustering (Golikov et al. 2022, `seeds/003_*`, §2.2, §3): the particles of
a `coretf.preprocess.grains` output folder read back (`read_crops`, `read_crop`), and what
`python -m coretf.analysis.grain_clusters` writes (`write_clusters`): `clusters.csv` (particle ->
cluster), `sample_counts.csv`, `cluster_centres.csv` (the fitted K-means, to which new particles
are assigned), `galleries/cluster_<k>.png` (each cluster's particles, sharpest layer),
`latent_map.png` and, with true types, `scores.json`. The methods (scores, features, K-means,
encoding) are in `coretf.analysis.grain_clustering`. All files are written atomically.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from coretf import io as coretf_io
from coretf import plots
from coretf.analysis import grain_clustering
from coretf.plots import plt


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
        labels, fitted = grain_clustering.fit_kmeans(latent, k, seed)
        write_centres(os.path.join(output, CENTRES_FILE), fitted)
    else:
        labels = grain_clustering.assign_clusters(latent, centres)
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
    coords, method = grain_clustering.embed_2d(latent, seed)
    true, names, report = None, (), None
    if "type" in particles:
        from coretf_datasets.sediment_grains.sediment_grains_dataset_builder import TYPE_NAMES, UNKNOWN

        true, names = particles["type"], TYPE_NAMES
        report = grain_clustering.score_against_types(latent, particles, UNKNOWN, k, seed)
        if report:
            coretf_io.write_json(os.path.join(output, "scores.json"), report)
    save_map(os.path.join(output, "latent_map.png"), coords, labels, method, true, names)
    return labels, method, report
