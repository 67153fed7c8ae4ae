"""Great Expectations suites on every raw table, run as Dagster asset checks on the ["raw", source] assets.

Per source, one check op with two checks:

- ``contract`` (blocking, ERROR): the critical expectations (schema, required, accepted values, key
  uniqueness, no future timestamps, amount ranges), judged on the rows of the source's current load against
  their tolerances (a bad row of an old load never blocks later runs; the loader quarantines bad values). A
  failure stops everything downstream of the source in the same run (staging, marts, syncs), so broken data
  is never published or pushed to a destination.
- ``health`` (non-blocking, WARN): email / phone shapes, an empty source, files with many quarantined rows.

The logic lives in ``sen.quality``; this module only maps its results to check results and metadata. The
suites are evaluated by the DuckDB SQL engine, whose counts match Great Expectations' own engine (tested in
tests/orchestration/test_quality.py) without GE's import and pandas round trip; CDP_DQ_ENGINE=auto has GE evaluate tables up to CDP_DQ_GX_MAX_ROWS rows, CDP_DQ_ENGINE=gx all.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from orchestration.resources import RunClock, Warehouse
from sen.contracts import Source, load_contract
from sen.quality import (
    CRITICAL,
    WARNING,
    ExpectationOutcome,
    SourceValidation,
    engine_from_env,
    validate_source,
)

CONTRACT_CHECK = "contract"
HEALTH_CHECK = "health"
SEVERITY_OF_CHECK = {CONTRACT_CHECK: CRITICAL, HEALTH_CHECK: WARNING}


def _markdown(outcomes: list[ExpectationOutcome]) -> str:
    lines = ["| expectation | result | failing rows | of rows | detail |", "|---|---|---:|---:|---|"]
    for o in outcomes:
        failing = "" if o.unexpected_count is None else f"{o.unexpected_count:,}"
        rows = "" if o.element_count is None else f"{o.element_count:,}"
        detail = o.error or ("" if o.observed_value is None else str(o.observed_value))
        if o.mostly not in (None, 1.0):
            detail = f"tolerance {1 - o.mostly:.2%} {detail}".strip()
        lines.append(
            f"| `{o.name}` | {'pass' if o.success else '**FAIL**'} | {failing} | {rows} | {detail} |"
        )
    return "\n".join(lines)


def check_metadata(
    report: SourceValidation, outcomes: list[ExpectationOutcome]
) -> dict[str, dg.MetadataValue]:
    """Per expectation its result and failing-row count, plus a table for the UI."""
    metadata: dict[str, dg.MetadataValue] = {
        "engine": dg.MetadataValue.text(report.engine),
        "rows": dg.MetadataValue.int(report.row_count or 0),
        "expectations": dg.MetadataValue.int(len(outcomes)),
        "failed_expectations": dg.MetadataValue.int(sum(not o.success for o in outcomes)),
        "results": dg.MetadataValue.md(_markdown(outcomes)),
    }
    for o in outcomes:
        metadata[o.name] = dg.MetadataValue.text(o.summary())
        if o.unexpected_count is not None:
            metadata[f"failing_rows/{o.name}"] = dg.MetadataValue.int(o.unexpected_count)
    return metadata


def check_results(report: SourceValidation, checks: list[str]) -> Iterator[dg.AssetCheckResult]:
    key = dg.AssetKey(["raw", report.source])
    for check in checks:
        severity = SEVERITY_OF_CHECK[check]
        outcomes = report.by_severity(severity)
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=check,
            passed=all(o.success for o in outcomes),
            severity=dg.AssetCheckSeverity.ERROR if severity == CRITICAL else dg.AssetCheckSeverity.WARN,
            metadata=check_metadata(report, outcomes),
        )


def not_future_limit(run_clock: RunClock) -> datetime:
    """What "in the future" means for raw rows: after the real clock (or the as-of, if that is later).

    A backtest or a replay with a past as-of reads a full export whose later rows are simply after the as-of:
    the models leave them out (they filter on the as-of), so they must not fail the blocking contract check.
    A timestamp after the wall clock is a broken export either way.
    """
    return max(run_clock.as_of(), datetime.now(UTC))


def build_raw_quality_check(source: Source) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(["raw", source.name])
    specs = [
        dg.AssetCheckSpec(
            name=CONTRACT_CHECK,
            asset=key,
            blocking=True,
            description=(
                f"raw.{source.name} honours the input contract: columns, required fields, accepted values, "
                f"key {source.key} unique per file, no timestamps in the future (after the real clock), amounts in range, "
                "judged on the rows of the current load. Blocks everything downstream when it fails."
            ),
        ),
        dg.AssetCheckSpec(
            name=HEALTH_CHECK,
            asset=key,
            blocking=False,
            description=(
                f"raw.{source.name} looks healthy: well-formed emails and phones, not empty, "
                "no file with a high share of quarantined rows. Warns only."
            ),
        ),
    ]

    @dg.multi_asset_check(
        specs=specs,
        name=f"raw_{source.name}_quality",
        description=f"Great Expectations suite of raw.{source.name} (see docs/data_quality.md).",
        can_subset=True,
        compute_kind="great_expectations",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse, run_clock: RunClock
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {k.name for k in context.selected_asset_check_keys}
        checks = [c for c in (CONTRACT_CHECK, HEALTH_CHECK) if c in selected]
        # The same (read-write) configuration as every other step: DuckDB refuses a read-only connection in a
        # process that still holds a read-write one to the same file. Nothing is written.
        with warehouse.connect() as conn:
            report = validate_source(
                conn, source, as_of=not_future_limit(run_clock), engine=engine_from_env()
            )
        for outcome in report.outcomes:
            if not outcome.success:
                context.log.warning(
                    f"raw.{source.name} {outcome.severity} {outcome.name}: {outcome.summary()}"
                )
        yield from check_results(report, checks)

    return _check


raw_quality_checks: list[dg.AssetChecksDefinition] = [
    build_raw_quality_check(s) for s in load_contract().sources.values()
]
