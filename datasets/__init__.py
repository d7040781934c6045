"""coretf's TFDS builders, installed as `coretf_datasets` (never importable as `datasets`)."""
