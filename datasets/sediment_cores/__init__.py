"""The sediment_cores TFDS builder (Hutton 2025): `import coretf_datasets.sediment_cores` registers it."""

from coretf_datasets.sediment_cores.sediment_cores_dataset_builder import Builder

__all__ = ["Builder"]
