"""Dagster definitions of Sen: ingestion, dbt models, identity, customer value, audiences and syncs."""
