"""Evaluate a suite's expectations with DuckDB aggregates: one scan per batch, nothing pulled into pandas, and
no Great Expectations import.

Supports the expectation types the raw suites use, with GE's counting rules (a map expectation considers the
non-missing values; an empty batch passes vacuously; success = share of good rows >= mostly). Parity with
GE's own engine is tested in tests/orchestration/test_quality_engines.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb

from sen.contracts import Source
from sen.quality.batches import batch_sql, literal, quote
from sen.quality.results import ExpectationOutcome
from sen.quality.suites import Expectation

ENGINE = "duckdb_sql"


def mostly_success(considered: int, unexpected: int, mostly: float | None) -> bool:
    """GE's rule; vacuously true on nothing to consider."""
    if considered == 0:
        return True
    return (considered - unexpected) / considered >= (1.0 if mostly is None else mostly)


def sql_value(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} in an expectation; use an aware one")
        return f"timestamptz {literal(value.isoformat())}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"unsupported bound {value!r}")
    return repr(value)


def _bad_condition(kind: str, col: str, kwargs: dict[str, Any]) -> str:
    """SQL true for a non-missing value that breaks the expectation."""
    if kind == "expect_column_values_to_be_in_set":
        values = ", ".join(literal(str(v)) for v in kwargs["value_set"])
        return f"{col} not in ({values})" if values else "true"
    if kind == "expect_column_values_to_match_regex":
        return f"not regexp_matches({col}, {literal(kwargs['regex'])})"
    if kind == "expect_column_values_to_be_between":
        ok: list[str] = []
        if kwargs.get("min_value") is not None:
            op = ">" if kwargs.get("strict_min") else ">="
            ok.append(f"{col} {op} {sql_value(kwargs['min_value'])}")
        if kwargs.get("max_value") is not None:
            op = "<" if kwargs.get("strict_max") else "<="
            ok.append(f"{col} {op} {sql_value(kwargs['max_value'])}")
        return f"not ({' and '.join(ok)})" if ok else "false"
    raise NotImplementedError(kind)


COLUMN_MAP_TYPES = {
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_be_between",
}
SUPPORTED_TYPES = COLUMN_MAP_TYPES | {
    "expect_column_values_to_not_be_null",
    "expect_table_columns_to_match_set",
    "expect_table_row_count_to_be_between",
    "expect_compound_columns_to_be_unique",
}


def _describe(conn: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    result = conn.execute(f"select * from ({sql}) limit 0")
    columns = [d[0] for d in result.description]
    result.fetchall()  # DuckDB 2 keeps a connection busy until its result is consumed
    return columns


def validate_batch(
    conn: duckdb.DuckDBPyConnection,
    source: Source,
    batch: str,
    present: list[str],
    expectations: list[Expectation],
) -> list[ExpectationOutcome]:
    """All expectations of one batch; aggregates share one scan, uniqueness needs its own group-by."""
    sql = batch_sql(source, batch, present)
    columns = _describe(conn, sql)
    aggregates: list[str] = ["count(*)"]
    finishers: list[Callable[[tuple], ExpectationOutcome]] = []

    def slot(expression: str) -> int:
        aggregates.append(expression)
        return len(aggregates) - 1

    outcomes: list[ExpectationOutcome] = []
    for exp in expectations:
        kind, kwargs, meta = exp.type, exp.kwargs, exp.meta
        common = {
            "name": meta["name"],
            "expectation_type": kind,
            "severity": exp.severity,
            "batch": batch,
            "mostly": kwargs.get("mostly"),
        }
        if kind not in SUPPORTED_TYPES:
            raise NotImplementedError(f"{meta['name']}: the SQL engine does not support {kind}")
        needed = kwargs.get("column_list") or ([kwargs["column"]] if "column" in kwargs else [])
        missing = [c for c in needed if c not in columns]
        if missing:
            error = f"column(s) {missing} missing from raw.{source.name}"
            outcomes.append(ExpectationOutcome(success=False, error=error, **common))
            continue
        if kind == "expect_table_columns_to_match_set":
            expected = set(kwargs["column_set"])
            observed = set(columns)
            ok = observed == expected if kwargs.get("exact_match", True) else expected <= observed
            outcomes.append(
                ExpectationOutcome(
                    success=ok,
                    observed_value={
                        "missing": sorted(expected - observed),
                        "unexpected": sorted(observed - expected),
                    },
                    **common,
                )
            )
        elif kind == "expect_compound_columns_to_be_unique":
            outcomes.append(_compound_unique(conn, sql, kwargs, common))
        elif kind == "expect_table_row_count_to_be_between":

            def finish_count(row: tuple, common: dict = common, kwargs: dict = kwargs) -> ExpectationOutcome:
                low, high = kwargs.get("min_value"), kwargs.get("max_value")
                ok = (low is None or row[0] >= low) and (high is None or row[0] <= high)
                return ExpectationOutcome(success=ok, observed_value=row[0], **common)

            finishers.append(finish_count)
        elif kind == "expect_column_values_to_not_be_null":
            nulls = slot(f"count(*) - count({quote(kwargs['column'])})")

            def finish_null(row: tuple, nulls: int = nulls, common: dict = common) -> ExpectationOutcome:
                total, bad = row[0], row[nulls]
                return ExpectationOutcome(
                    success=mostly_success(total, bad, common["mostly"]),
                    element_count=total,
                    unexpected_count=bad,
                    missing_count=0,
                    **common,
                )

            finishers.append(finish_null)
        else:  # a column map expectation over non-missing values
            col = quote(kwargs["column"])
            nonnull = slot(f"count({col})")
            bad = slot(f"count(*) filter (where {col} is not null and ({_bad_condition(kind, col, kwargs)}))")

            def finish_map(
                row: tuple, n: int = nonnull, b: int = bad, common: dict = common
            ) -> ExpectationOutcome:
                total, considered, unexpected = row[0], row[n], row[b]
                return ExpectationOutcome(
                    success=mostly_success(considered, unexpected, common["mostly"]),
                    element_count=total,
                    unexpected_count=unexpected,
                    missing_count=total - considered,
                    **common,
                )

            finishers.append(finish_map)
    if finishers:
        row = conn.execute(f"select {', '.join(aggregates)} from ({sql})").fetchall()[0]
        outcomes.extend(finish(row) for finish in finishers)
    return outcomes


def _compound_unique(
    conn: duckdb.DuckDBPyConnection, sql: str, kwargs: dict[str, Any], common: dict[str, Any]
) -> ExpectationOutcome:
    """GE counts every row of a repeated combination as unexpected; rows with all columns missing are skipped."""
    cols = ", ".join(quote(c) for c in kwargs["column_list"])
    all_missing = " and ".join(f"{quote(c)} is null" for c in kwargs["column_list"])
    total, considered, unexpected = conn.execute(
        f"""
        with groups as (
            select count(*) as n, bool_and({all_missing}) as all_missing from ({sql}) group by {cols}
        )
        select coalesce(sum(n), 0),
               coalesce(sum(n) filter (where not all_missing), 0),
               coalesce(sum(n) filter (where not all_missing and n > 1), 0)
        from groups
        """
    ).fetchall()[0]
    return ExpectationOutcome(
        success=mostly_success(considered, unexpected, common["mostly"]),
        element_count=total,
        unexpected_count=unexpected,
        missing_count=total - considered,
        **common,
    )
