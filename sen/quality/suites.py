"""Great Expectations suites for the raw tables, derived from the input contract (``sen/contracts``).

One suite per source. Every expectation carries in ``meta``:

- ``name``: a stable id shown in Dagster (``not_null:created_at``, ``unique_key``...);
- ``batch``: which SQL batch it runs on (see ``sen.quality.batches``);

and a GE ``severity``: ``critical`` expectations make the blocking ``contract`` check, ``warning`` ones the
non-blocking ``health`` check.

``build_expectations`` returns them as plain ``Expectation`` records (GE's configuration: type, kwargs,
severity, meta), which the DuckDB SQL engine evaluates without importing Great Expectations (a heavy import);
``build_suite`` turns the same records into the GE ``ExpectationSuite`` that GE validates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sen.contracts import Source
from sen.ingest.loader import META_COLUMNS
from sen.normalize.rules import EMAIL_SHAPE
from sen.quality.batches import DISTINCT_ROWS, LOADED_FILES, ROWS
from sen.settings import Settings

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations import expectations as gxe

CRITICAL = "critical"
WARNING = "warning"

# Shapes, not validity: phonenumbers / email-validator in staging (sen.normalize) decide what is usable.
# These catch breakage such as shifted columns or a field filled with names, at any table size in SQL.
EMAIL_REGEX = f"^{EMAIL_SHAPE}$"
PHONE_REGEX = r"^\(?\+?[0-9][0-9 ().-]{6,22}[0-9]$"


@dataclass(frozen=True)
class Thresholds:
    """Tolerances that let realistic dirt through while catching breakage (see docs/data_quality.md)."""

    # Share of distinct rows whose key is unique within its file; conflicting rows beyond this fail.
    key_unique_mostly: float = 0.99
    # Share of timestamps not after the reference time (+ clock_skew): a few device clocks run ahead.
    not_future_mostly: float = 0.999
    clock_skew: timedelta = timedelta(hours=1)
    max_amount: float = 1e10  # VND; larger is a unit or parsing error
    well_formed_mostly: float = 0.9  # below: a warning (dirt is growing)
    well_formed_majority: float = 0.5  # below: a critical failure (a column swap or a broken export)
    max_quarantine_share: float = 0.1  # per file; above it a file is probably broken, not dirty

    @classmethod
    def from_env(cls) -> Thresholds:
        """Defaults, overridable with CDP_DQ_<FIELD> (e.g. CDP_DQ_WELL_FORMED_MOSTLY=0.8), read by sen.settings."""
        return cls(**Settings.from_env().dq_thresholds)


def _meta(name: str, batch: str, why: str) -> dict[str, str]:
    return {"name": name, "batch": batch, "why": why}


@dataclass(frozen=True)
class Expectation:
    """One expectation as GE configures it (``ExpectationConfiguration``): snake_case type, kwargs, severity
    (``critical`` / ``warning``) and meta (``name``, ``batch``, ``why``)."""

    type: str
    kwargs: dict[str, Any]
    severity: str
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def batch(self) -> str:
        return self.meta["batch"]

    def to_gx(self) -> gxe.Expectation:
        """The Great Expectations object; GE checks the kwargs against the expectation's own schema."""
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
        from great_expectations.expectations.metadata_types import FailureSeverity

        configuration = ExpectationConfiguration(
            type=self.type,
            kwargs=dict(self.kwargs),
            meta=dict(self.meta),
            severity=FailureSeverity(self.severity),
        )
        return configuration.to_domain_obj()


def build_suite(source: Source, as_of: datetime, thresholds: Thresholds | None = None) -> gx.ExpectationSuite:
    """The Great Expectations suite of raw.<source>: ``build_expectations`` as GE objects."""
    import great_expectations as gx

    expectations = [e.to_gx() for e in build_expectations(source, as_of, thresholds)]
    # A suite built from a list needs no data context.
    return gx.ExpectationSuite(name=f"raw.{source.name}", expectations=expectations)


def build_expectations(
    source: Source, as_of: datetime, thresholds: Thresholds | None = None
) -> list[Expectation]:
    """The expectations of raw.<source>; timestamps are compared with `as_of` (aware, any zone)."""
    t = thresholds or Thresholds()
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    expectations: list[Expectation] = []

    def add(kind: str, *, severity: str, meta: dict[str, str], **kwargs: Any) -> None:
        expectations.append(Expectation(kind, kwargs, severity, meta))

    add(
        "expect_table_columns_to_match_set",
        column_set=[*source.column_names, *META_COLUMNS],
        exact_match=True,
        severity=CRITICAL,
        meta=_meta("columns_match_contract", ROWS, "raw table has exactly the contract columns + load meta"),
    )
    for column in source.required_columns:
        add(
            "expect_column_values_to_not_be_null",
            column=column.name,
            severity=CRITICAL,
            meta=_meta(f"not_null:{column.name}", ROWS, "required and parseable on every row"),
        )
    for column in source.columns:
        if column.accepted:
            add(
                "expect_column_values_to_be_in_set",
                column=column.name,
                value_set=sorted(v.lower() for v in column.accepted),
                severity=CRITICAL,
                meta=_meta(f"accepted:{column.name}", ROWS, "only the contract's accepted values"),
            )
    add(
        "expect_compound_columns_to_be_unique",
        column_list=["_file_sha256", *source.key],
        mostly=t.key_unique_mostly,
        severity=CRITICAL,
        meta=_meta(
            "unique_key",
            DISTINCT_ROWS,
            f"key {source.key} unique per file among distinct rows (exact duplicates are allowed in raw; "
            "a later file may update a key)",
        ),
    )
    latest = as_of + t.clock_skew
    for column in source.columns:
        if column.type in ("timestamp", "date"):
            add(
                "expect_column_values_to_be_between",
                column=column.name,
                max_value=latest,
                mostly=t.not_future_mostly,
                severity=CRITICAL,
                meta=_meta(f"not_future:{column.name}", ROWS, "not after CDP_AS_OF (+ clock skew)"),
            )
        elif column.type == "decimal":
            # The contract's bounds (amounts are [0, 10 billion) VND unless a column allows a sign, such as a
            # store return's line total); CDP_DQ_MAX_AMOUNT lowers the default maximum.
            low, high = column.bounds
            high = t.max_amount if column.max is None else high
            add(
                "expect_column_values_to_be_between",
                column=column.name,
                min_value=low,
                max_value=high,
                strict_max=True,
                severity=CRITICAL,
                meta=_meta(f"amount_range:{column.name}", ROWS, f"{low:g} <= amount < {high:g} VND"),
            )
        elif column.type == "integer" and column.bounds != (None, None):
            low, high = column.bounds
            add(
                "expect_column_values_to_be_between",
                column=column.name,
                min_value=low,
                max_value=high,
                severity=CRITICAL,
                meta=_meta(f"range:{column.name}", ROWS, f"between {low} and {high} (the contract)"),
            )
    for column in source.columns:
        if column.name in ("email", "phone"):
            regex = EMAIL_REGEX if column.name == "email" else PHONE_REGEX
            add(
                "expect_column_values_to_match_regex",
                column=column.name,
                regex=regex,
                mostly=t.well_formed_majority,
                severity=CRITICAL,
                meta=_meta(
                    f"mostly_well_formed:{column.name}",
                    ROWS,
                    f"at least {t.well_formed_majority:.0%} look like one, else the column is broken",
                ),
            )
            add(
                "expect_column_values_to_match_regex",
                column=column.name,
                regex=regex,
                mostly=t.well_formed_mostly,
                severity=WARNING,
                meta=_meta(
                    f"well_formed:{column.name}",
                    ROWS,
                    f"at least {t.well_formed_mostly:.0%} look like one",
                ),
            )
    add(
        "expect_table_row_count_to_be_between",
        min_value=1,
        severity=WARNING,
        meta=_meta("not_empty", ROWS, "the source delivered rows"),
    )
    add(
        "expect_column_values_to_be_between",
        column="quarantined_share",
        max_value=t.max_quarantine_share,
        severity=WARNING,
        meta=_meta(
            "quarantine_share",
            LOADED_FILES,
            f"no file had more than {t.max_quarantine_share:.0%} of its rows quarantined",
        ),
    )
    return expectations
