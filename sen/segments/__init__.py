"""Declarative segments, campaigns and audiences: YAML definitions validated and compiled to dbt models."""
