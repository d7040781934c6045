"""Measurements from images and model outputs: one module per job."""
