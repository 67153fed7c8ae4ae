"""Deterministic, realistic multi-source sample data for Sen (see data_samples/README.md)."""
