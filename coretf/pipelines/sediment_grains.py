"""Grain photo sets on Beam: extraction -> encoder -> assignment to a fitted K-means, with the
per-set functions of the two commands:

  <output>/            python -m coretf.preprocess.grains   (crops, overlays, boxes, particles.csv,
                       grains.csv, grain sizes)
  <output>/clusters/   python -m coretf.analysis.grain_clusters --centres=...  (clusters.csv,
                       sample_counts.csv, galleries/, latent_map.png)

Each worker loads the encoder SavedModel once (`EncodeSet.setup`), extracts a set (skipped when
an earlier run did), encodes its particles over their eight dihedral views and assigns each to
the nearest fitted centre; the set's latent means and clusters are kept in
`clusters/sets/<sample>/<position>.csv`, so a rerun encodes only new sets. The last step writes
the extraction's tables (and `errors.txt`, as the grains command does) and the clusters' tables,
galleries (reading only the particles shown) and map.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from coretf import io as coretf_io
from coretf import outputs, pipelines
from coretf.analysis import grain_cluster_files, grain_clustering
from coretf.pipelines import beam
from coretf.preprocess import grain_extraction, grain_photos, grains_batch

CLUSTERS = "clusters"


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every photo set of a run shares."""

    model: str  # the encoder SavedModel (<model_dir>/export_encoder)
    centres: str  # the fitted K-means (cluster_centres.csv of grain_clusters, or its folder)
    output: str
    layers: int = grain_photos.NUM_LAYERS
    crop_size: int = 280
    extraction: grain_extraction.ExtractionSettings = grain_extraction.ExtractionSettings()
    dihedral: bool = True
    seed: int = 0  # galleries and map, as grain_clusters --seed


def _latent_csv(output: str, files: grain_photos.PhotoSetFiles) -> str:
    return os.path.join(output, CLUSTERS, "sets", files.sample, f"{files.position}.csv")


class EncodeSet(beam.DoFn):
    """(index, photo set) -> (index, the set's particles.csv rows or None, its latent means
    (N, D) or None, the reason it failed or None)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def setup(self):
        self.encode = grain_clustering.saved_model_encoder(self.settings.model,  # once per worker
                                                           dihedral=self.settings.dihedral)
        self.centres = grain_cluster_files.read_centres(self.settings.centres)

    def process(self, item):
        index, files = item
        s = self.settings
        rows, error = grains_batch.extract_set(files, s.output, s.layers, s.crop_size, s.extraction)
        if error:
            yield index, None, None, error
            return
        table = _latent_csv(s.output, files)
        if not rows:
            yield index, rows, None, None
            return
        if os.path.exists(table):
            latent = np.array([[float(v) for k, v in r.items() if k.startswith("z")]
                               for r in coretf_io.read_csv(table)], np.float32)
            yield index, rows, latent, None
            return
        try:
            latent = self.encode(np.stack([grain_cluster_files.read_crop(os.path.join(s.output, r["crop"]))
                                           for r in rows]))
            clusters = grain_clustering.assign_clusters(latent, self.centres)
            coretf_io.write_csv(table, ["particle", "cluster"] + [f"z{j}" for j in range(latent.shape[1])],
                                [[grain_cluster_files.particle_id(r), int(c)] + [repr(float(v)) for v in z]
                                 for r, c, z in zip(rows, clusters, latent)])
        except Exception as error:  # noqa: BLE001 - one set's failure is its report line
            yield index, None, None, outputs.item_error(f"{files.sample}/{files.position}", error)
            return
        yield index, rows, latent, None


def _finish(results: list, settings: Settings, sets: list) -> None:
    results = sorted(results, key=lambda r: r[0])
    errors = [error for _, _, _, error in results if error]
    grains_batch.write_tables(settings.output, sets, settings.extraction, errors)
    done = [(rows, latent) for _, rows, latent, _ in results if latent is not None]
    if not done:
        return
    rows = [row for rows, _ in done for row in rows]
    latent = np.concatenate([latent for _, latent in done]).astype(np.float32)
    particles = {"layers": lambda indices: np.stack([
                     grain_cluster_files.read_crop(os.path.join(settings.output, rows[i]["crop"])) for i in indices]),
                 "sample_id": np.array([r["sample"] for r in rows]),
                 "id": [grain_cluster_files.particle_id(r) for r in rows]}
    grain_cluster_files.write_clusters(os.path.join(settings.output, CLUSTERS), latent, particles,
                                       seed=settings.seed, centres=grain_cluster_files.read_centres(settings.centres))


def run(input_path: str, settings: Settings, beam_args: list[str]) -> tuple[str, list[str]]:
    """Extracts, encodes and assigns every photo set of `input_path`. Returns (the summary line,
    messages of the bad sets).

    Raises:
        ValueError: no photo sets, an unusable output or one filled with other settings, no
            fitted centres, or an encoder that cannot be loaded: before any work.
    """
    sets = grains_batch.start_run(input_path, settings.output, settings.layers, settings.crop_size,
                                  settings.extraction)
    grain_cluster_files.read_centres(settings.centres)
    grain_clustering.saved_model_encoder(settings.model)  # an export that cannot be loaded stops it here
    done = sum(os.path.exists(_latent_csv(settings.output, s)) for s in sets)
    pipelines.run(list(enumerate(sets)), EncodeSet(settings),
                  functools.partial(_finish, settings=settings, sets=sets), beam_args)
    bad = outputs.read_report(settings.output)
    clusters = os.path.join(settings.output, CLUSTERS, "clusters.csv")
    particles = len(coretf_io.read_csv(clusters)) if os.path.exists(clusters) else 0
    return (f"{len(sets) - len(bad)} photo set(s) ({done} done before): {particles} particles assigned to "
            f"the fitted clusters -> {os.path.abspath(settings.output)}"), bad
