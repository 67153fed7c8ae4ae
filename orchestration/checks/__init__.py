"""Dagster asset checks. ``raw_quality_checks``: the Great Expectations suites on every raw source."""

from orchestration.checks.raw_quality import CONTRACT_CHECK, HEALTH_CHECK, raw_quality_checks

__all__ = ["CONTRACT_CHECK", "HEALTH_CHECK", "raw_quality_checks"]
