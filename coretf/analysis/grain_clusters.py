"""Clusters of sediment particles an expert can name: `python -m coretf.analysis.grain_clusters`.

Encodes the particles of a `python -m coretf.preprocess.grains` output folder (--input) or of a
sediment_grains dataset (--dataset) with an exported VAE encoder, over-clusters their latent
means with K-means and writes `clusters.csv`, `sample_counts.csv`, `latent_map.png`,
`galleries/cluster_<k>.png`, `cluster_centres.csv` (the fitted K-means) and, with true types,
`scores.json`; with `--centres` (an earlier run's centres) the particles join those clusters
instead of new ones (the latent against the two
baselines): the method of Golikov et al. (2022, `seeds/003_*`, §2.2, §3) in
`coretf.analysis.grain_clustering`.

    python -m coretf.analysis.grain_clusters --model=<model_dir>/export_encoder \
        --input=<grains output> --output=<folder> [--k=100] [--centres=<earlier output>]
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags, logging

from coretf import flags as coretf_flags
from coretf import io as coretf_io
from coretf.analysis import grain_cluster_files, grain_clustering


def define_flags() -> None:
    """Flags of `python -m coretf.analysis.grain_clusters`."""
    flags.DEFINE_string("model", None, "Encoder SavedModel (<model_dir>/export_encoder).", required=True)
    flags.DEFINE_string("input", None, "Output folder of python -m coretf.preprocess.grains.")
    flags.DEFINE_string("dataset", None, "Or a sediment_grains config, e.g. synthetic_64 (all splits).")
    flags.DEFINE_string("data_dir", "runs/tensorflow_datasets", "TFDS data directory for --dataset.")
    flags.DEFINE_string("output", None, "Output folder.", required=True)
    flags.DEFINE_integer("k", 100, "Number of K-means clusters.")
    flags.DEFINE_string("centres", None, "Assign the particles to these fitted clusters (the "
                        f"{grain_cluster_files.CENTRES_FILE} of an earlier run, or its folder) instead of "
                        "fitting K-means: new photo sets join clusters already named.")
    flags.DEFINE_integer("seed", 0, "K-means, UMAP and gallery seed.")
    flags.DEFINE_boolean("dihedral", True, "Average each particle's latent mean over its eight dihedral views "
                         "(rotations by 90 degrees, mirror images): clusters independent of orientation.")


def main(argv) -> None:
    del argv
    if not flags.FLAGS["verbosity"].present:  # progress bars and results, not INFO lines
        logging.set_verbosity(logging.WARNING)
    values = flags.FLAGS
    if bool(values.input) == bool(values.dataset):
        raise app.UsageError("give exactly one of --input and --dataset")
    if values.input:
        particles = grain_cluster_files.read_crops(values.input)
    else:
        from coretf.data import builders  # TFDS only for this input
        from coretf.data import sediment_grains as grain_data

        builder = builders.get_builder("sediment_grains", values.dataset, values.data_dir)
        splits = [grain_data.load_split(builder, s) for s in ("train", "validation", "test")]
        particles = {key: np.concatenate([s[key] for s in splits]) for key in splits[0]}
        particles["id"] = [f"{s}/{p}/{i:03d}" for s, p, i in
                           zip(particles["sample_id"], particles["position_id"], particles["particle_id"])]
    try:
        centres = grain_cluster_files.read_centres(values.centres) if values.centres else None
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    latent = grain_clustering.encode_with_saved_model(values.model, particles["layers"],
                                                      dihedral=values.dihedral)
    labels, method, report = grain_cluster_files.write_clusters(values.output, latent, particles, k=values.k,
                                                             seed=values.seed, centres=centres)
    for line in grain_clustering.score_lines(report) if report else ():
        print(line)
    print(f"{len(labels)} particles in {len(np.unique(labels))} clusters -> {values.output} "
          f"(clusters.csv, sample_counts.csv, galleries/, latent_map.png by {method.upper()})")


def cli() -> None:
    """`coretf-grain-clusters` (console script) and `python -m coretf.analysis.grain_clusters`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
