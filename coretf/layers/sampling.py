"""The VAE reparameterisation layer (Kingma and Welling 2014), as in keras-io's VAE example."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="coretf")
class Sampling(keras.layers.Layer):
    """Draws z = mean + exp(log_var / 2) * eps, eps ~ N(0, I), from a seeded stream.

    Call args:
        inputs: (z_mean, z_log_var), each (batch, latent) float.

    Returns:
        (batch, latent) sample in the inputs' dtype.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
