"""Evaluate a suite with Great Expectations itself: an ephemeral context, a pandas datasource, one
ValidationDefinition per batch. Each batch is pulled into pandas, so this engine is for small tables
(``validate_source(engine="auto")`` picks it below a row limit) and as the reference for the SQL engine.
"""

from __future__ import annotations

from typing import Any

import duckdb

from sen.contracts import Source
from sen.quality.batches import batch_sql
from sen.quality.results import ExpectationOutcome
from sen.quality.suites import Expectation

ENGINE = "great_expectations"


def ephemeral_context() -> Any:
    """An in-memory GE context: nothing written to disk, no analytics, no progress bars in the logs.

    Analytics are off in the context's own config (the installed GE reads no GX_ANALYTICS_ENABLED variable).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _exception_message(result: Any) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "expectation raised an exception")
    for value in info.values():  # keyed by metric when several metrics failed
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "expectation raised an exception")
    return None


def validate_batch(
    conn: duckdb.DuckDBPyConnection,
    source: Source,
    batch: str,
    present: list[str],
    expectations: list[Expectation],
    context: Any,
) -> list[ExpectationOutcome]:
    import great_expectations as gx

    frame = conn.sql(batch_sql(source, batch, present)).df()
    name = f"raw.{source.name}.{batch}"
    asset = context.data_sources.add_pandas(name).add_dataframe_asset(name)
    definition = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=[e.to_gx() for e in expectations]))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=definition, suite=suite)
    )
    run = validation.run(batch_parameters={"dataframe": frame}, result_format="BASIC")
    outcomes = []
    for result in run.results:
        cfg = result.expectation_config
        common = {
            "name": cfg.meta["name"],
            "expectation_type": cfg.type,
            "severity": cfg.severity.value,
            "batch": batch,
            "mostly": cfg.kwargs.get("mostly"),
        }
        error = _exception_message(result)
        if error:
            outcomes.append(ExpectationOutcome(success=False, error=error, **common))
            continue
        res = result.result or {}
        observed = res.get("observed_value")
        if cfg.type == "expect_table_columns_to_match_set":
            expected, seen = set(cfg.kwargs["column_set"]), set(observed or [])
            observed = {"missing": sorted(expected - seen), "unexpected": sorted(seen - expected)}
        outcomes.append(
            ExpectationOutcome(
                success=bool(result.success),
                element_count=res.get("element_count"),
                unexpected_count=res.get("unexpected_count"),
                missing_count=res.get("missing_count"),
                observed_value=observed,
                **common,
            )
        )
    return outcomes
