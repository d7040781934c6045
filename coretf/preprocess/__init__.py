"""Preprocessing commands and their library code: one module per job."""
