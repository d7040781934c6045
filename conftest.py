"""pytest start-up for tests/ and datasets/: coretf is imported before any test imports TensorFlow,
so tests run TensorFlow with coretf's CPU-kernel default (see coretf/__init__.py)."""

import coretf  # noqa: F401
