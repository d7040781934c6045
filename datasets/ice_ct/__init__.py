"""The ice_ct TFDS builder (Bagherzadeh et al. 2023): `import coretf_datasets.ice_ct` registers it."""

from coretf_datasets.ice_ct.ice_ct_dataset_builder import Builder

__all__ = ["Builder"]
