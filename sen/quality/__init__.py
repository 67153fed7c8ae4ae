"""Data quality of the raw tables: Great Expectations suites derived from the input contract, evaluated by
GE itself (small tables) or by DuckDB SQL aggregates (any size). Pure library: Dagster wraps it in
``orchestration/checks``. See docs/data_quality.md."""

from sen.quality.results import ExpectationOutcome, SourceValidation
from sen.quality.suites import CRITICAL, WARNING, Thresholds, build_suite
from sen.quality.validate import validate_all, validate_source

__all__ = [
    "CRITICAL",
    "WARNING",
    "ExpectationOutcome",
    "SourceValidation",
    "Thresholds",
    "build_suite",
    "validate_all",
    "validate_source",
]
