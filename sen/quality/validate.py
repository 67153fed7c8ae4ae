"""Validate raw tables against their suites, given a DuckDB connection (no Dagster here)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Literal

import duckdb

from sen import config
from sen.contracts import Source, load_contract
from sen.quality import gx_engine, sql_engine
from sen.quality.batches import quote, table_columns
from sen.quality.results import ExpectationOutcome, SourceValidation
from sen.quality.suites import CRITICAL, Expectation, Thresholds, build_expectations
from sen.settings import DEFAULT_GX_MAX_ROWS, DQ_ENGINES, Settings

Engine = Literal["auto", "sql", "gx"]
ENGINES: tuple[Engine, ...] = DQ_ENGINES  # type: ignore[assignment]
ENGINE_ENV = "CDP_DQ_ENGINE"
__all__ = ["DEFAULT_GX_MAX_ROWS", "ENGINES", "engine_from_env", "gx_max_rows", "validate_source"]


def engine_from_env(default: Engine = "sql") -> Engine:
    """The engine named by CDP_DQ_ENGINE (auto, sql or gx), else ``default``."""
    return Settings.from_env().dq_engine or default  # type: ignore[return-value]


def gx_max_rows() -> int:
    return Settings.from_env().dq_gx_max_rows


def validate_source(
    conn: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    as_of: datetime | None = None,
    thresholds: Thresholds | None = None,
    engine: Engine = "auto",
    context: object | None = None,
) -> SourceValidation:
    """Run the suite of raw.<source>. `auto` uses GE's pandas engine up to CDP_DQ_GX_MAX_ROWS rows (default
    100,000) and DuckDB SQL aggregates above, so a table of millions of rows is never pulled into pandas."""
    present = table_columns(conn, source)
    if present is None:
        missing = ExpectationOutcome(
            name="table_exists",
            expectation_type="table_exists",
            severity=CRITICAL,
            batch="rows",
            success=False,
            error=f"raw.{source.name} does not exist: the source was never ingested",
        )
        return SourceValidation(source.name, engine, None, [missing])
    row_count = conn.execute(f"select count(*) from raw.{quote(source.name)}").fetchall()[0][0]
    chosen = engine if engine != "auto" else ("gx" if row_count <= gx_max_rows() else "sql")
    if chosen not in ("sql", "gx"):
        raise ValueError(f"engine must be 'auto', 'sql' or 'gx', not {engine!r}")
    suite = build_expectations(source, as_of or config.as_of(), thresholds or Thresholds.from_env())
    by_batch: dict[str, list[Expectation]] = defaultdict(list)
    for expectation in suite:
        by_batch[expectation.batch].append(expectation)
    outcomes: list[ExpectationOutcome] = []
    if chosen == "gx":
        ctx = context or gx_engine.ephemeral_context()
        for batch, expectations in by_batch.items():
            outcomes += gx_engine.validate_batch(conn, source, batch, present, expectations, ctx)
    else:
        for batch, expectations in by_batch.items():
            outcomes += sql_engine.validate_batch(conn, source, batch, present, expectations)
    order = {e.name: i for i, e in enumerate(suite)}
    outcomes.sort(key=lambda o: order[o.name])
    engine_name = gx_engine.ENGINE if chosen == "gx" else sql_engine.ENGINE
    return SourceValidation(source.name, engine_name, row_count, outcomes)


def validate_all(
    conn: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime | None = None,
    thresholds: Thresholds | None = None,
    engine: Engine = "auto",
) -> dict[str, SourceValidation]:
    sources = load_contract().sources.values()
    context = gx_engine.ephemeral_context() if engine != "sql" else None
    return {
        s.name: validate_source(conn, s, as_of=as_of, thresholds=thresholds, engine=engine, context=context)
        for s in sources
    }
