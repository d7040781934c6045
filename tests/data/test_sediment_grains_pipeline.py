"""The grain pipeline's random dihedral views match the views the clustering averages over."""

import numpy as np
import tensorflow as tf

from coretf.analysis import grain_clustering
from coretf.data import sediment_grains


def test_dihedral_view_matches_numpy_views_and_random_draws_cover_all_eight():
    layers = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    expected = [v[0] for v in grain_clustering.dihedral_views(layers[None])]
    for view in range(8):
        np.testing.assert_array_equal(
            sediment_grains.dihedral_view(tf.constant(layers), tf.constant(view)).numpy(), expected[view])
    drawn = {sediment_grains.random_dihedral(tf.constant(layers), tf.constant([s, 7], tf.int64))
             .numpy().tobytes() for s in range(64)}
    assert drawn == {e.tobytes() for e in expected}
