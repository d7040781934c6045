"""The rock_ct TFDS builder (Lavrukhin et al.): `import coretf_datasets.rock_ct` registers it."""

from coretf_datasets.rock_ct.rock_ct_dataset_builder import Builder

__all__ = ["Builder"]
