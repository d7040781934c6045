"""Fixtures shared by the tests: Keras' global dtype policy is restored after every test."""

import keras
import pytest


@pytest.fixture(autouse=True)
def float32_policy():
    """Every test starts and ends under "float32", whatever policy it set."""
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def mixed_bfloat16(float32_policy):
    """Runs a test under the "mixed_bfloat16" policy."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
