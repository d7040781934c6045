"""The sediment_grains TFDS builder (Golikov et al. 2022): `import coretf_datasets.sediment_grains` registers it."""

from coretf_datasets.sediment_grains.sediment_grains_dataset_builder import Builder

__all__ = ["Builder"]
