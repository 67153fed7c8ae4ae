"""Engine-neutral results of validating one raw table: one outcome per expectation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sen.quality.suites import CRITICAL, WARNING


@dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one expectation, with GE's counting rules (percentages are of non-missing values)."""

    name: str
    expectation_type: str
    severity: str
    batch: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    missing_count: int | None = None
    observed_value: Any = None
    mostly: float | None = None
    error: str | None = None  # set when the expectation could not be evaluated (e.g. a missing column)

    @property
    def unexpected_percent(self) -> float | None:
        if self.unexpected_count is None or self.element_count is None:
            return None
        nonmissing = self.element_count - (self.missing_count or 0)
        return 100.0 * self.unexpected_count / nonmissing if nonmissing else 0.0

    def summary(self) -> str:
        """One line for logs and the Dagster UI."""
        verdict = "PASS" if self.success else "FAIL"
        if self.error:
            return f"{verdict}: {self.error}"
        if self.unexpected_count is not None:
            tolerance = f", tolerance {1 - self.mostly:.2%}" if self.mostly not in (None, 1.0) else ""
            return (
                f"{verdict}: {self.unexpected_count:,} failing of {self.element_count:,} rows "
                f"({self.unexpected_percent:.3f}%{tolerance})"
            )
        return f"{verdict}: observed {self.observed_value}"


@dataclass
class SourceValidation:
    source: str
    engine: str
    row_count: int | None
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    def by_severity(self, severity: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.severity == severity]

    @property
    def critical_success(self) -> bool:
        return all(o.success for o in self.by_severity(CRITICAL))

    @property
    def warning_success(self) -> bool:
        return all(o.success for o in self.by_severity(WARNING))

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    def outcome(self, name: str) -> ExpectationOutcome:
        for o in self.outcomes:
            if o.name == name:
                return o
        raise KeyError(f"{self.source}: no expectation named {name!r}")
