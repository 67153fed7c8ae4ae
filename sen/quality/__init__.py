"""Data quality of the raw tables: Great Expectations suites derived from the input contract, evaluated by
GE itself (small tables) or by DuckDB SQL aggregates (any size). Pure library: Dagster wraps it in
``orchestration/checks``. See docs/data_quality.md."""

from sen.quality.results import ExpectationOutcome, SourceValidation
from sen.quality.suites import CRITICAL, WARNING, Expectation, Thresholds, build_expectations, build_suite
from sen.quality.validate import engine_from_env, validate_all, validate_source

__all__ = [
    "CRITICAL",
    "WARNING",
    "Expectation",
    "ExpectationOutcome",
    "SourceValidation",
    "Thresholds",
    "build_expectations",
    "build_suite",
    "engine_from_env",
    "validate_all",
    "validate_source",
]
