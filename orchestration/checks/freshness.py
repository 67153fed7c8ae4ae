"""Source freshness: a ``freshness`` asset check on every ["raw", source] asset, plus a job and a schedule.

A source is fresh while its latest load (``max(_loaded_at)`` of raw.<source>, the loader's load time) is
younger than the contract's ``freshness`` policy (sen/contracts/sources.yml; the same policy is rendered into
the dbt sources file, so ``dbt source freshness`` agrees). Past ``warn_after`` the check fails with WARN
severity, past ``error_after`` with ERROR; it never blocks downstream assets: stale data is still the best data
there is, and the failing check is what tells the operator.

The check reads the data, not Dagster's event log: the ingestion assets materialize on every run even when no
new file arrived, so the last materialization says nothing about the data. Load times are wall-clock times, so
ages are measured against the wall clock too (not CDP_AS_OF, which moves event-time computations).

Evaluated (1) with every run that materializes the raw assets (the nightly build, the new-files sensor): the
checks of a selected asset run with it; (2) by the ``source_freshness`` job, checks only, every hour by the
``source_freshness_hourly`` schedule, so an export that stops arriving is reported even when nothing runs.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import dagster as dg
import duckdb

from orchestration.resources import Warehouse
from orchestration.schedules import WAREHOUSE_TAG, automation_default_status
from sen.contracts import Source, load_contract

FRESHNESS_CHECK = "freshness"
FRESHNESS_CRON = "15 * * * *"  # hourly, off the hour so it does not queue behind the 02:00 build's start

Level = Literal["fresh", "warn", "error"]


@dataclass(frozen=True)
class FreshnessStatus:
    """The freshness of one raw source at one time."""

    source: str
    level: Level
    checked_at: datetime
    last_loaded_at: datetime | None  # None: no row loaded yet
    rows: int

    @property
    def age(self) -> timedelta | None:
        return None if self.last_loaded_at is None else self.checked_at - self.last_loaded_at

    def describe(self, source: Source) -> str:
        policy = f"warn after {source.freshness.warn_after}, error after {source.freshness.error_after}"
        if self.last_loaded_at is None:
            return f"raw.{self.source} has no rows loaded yet ({policy})."
        age_hours = self.age.total_seconds() / 3600 if self.age is not None else 0.0
        state = {"fresh": "fresh", "warn": "overdue (warning)", "error": "overdue (error)"}[self.level]
        return (
            f"raw.{self.source}: latest load {self.last_loaded_at:%Y-%m-%d %H:%M} UTC, {age_hours:.1f} h ago: "
            f"{state} ({policy})."
        )


def source_freshness(conn: duckdb.DuckDBPyConnection, source: Source, now: datetime) -> FreshnessStatus:
    """The freshness of raw.<source> at `now` (timezone-aware) by the contract's policy."""
    table = f'raw."{source.name}"'
    exists = conn.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = ?",
        [source.name],
    ).fetchone()[0]
    last, rows = (None, 0)
    if exists:
        last, rows = conn.execute(f"select max(_loaded_at), count(*) from {table}").fetchone()
    if last is None:
        # Never loaded is as overdue as it gets: a fresh install shows it until the first load.
        return FreshnessStatus(source.name, "error", now, None, rows)
    last = last.astimezone(UTC)
    age = now - last
    level: Level = "fresh"
    if age > source.freshness.error_after.delta:
        level = "error"
    elif age > source.freshness.warn_after.delta:
        level = "warn"
    return FreshnessStatus(source.name, level, now, last, rows)


def check_result(status: FreshnessStatus, source: Source) -> dg.AssetCheckResult:
    metadata: dict[str, dg.MetadataValue] = {
        "warn_after_hours": dg.MetadataValue.float(source.freshness.warn_after.delta.total_seconds() / 3600),
        "error_after_hours": dg.MetadataValue.float(
            source.freshness.error_after.delta.total_seconds() / 3600
        ),
        "rows": dg.MetadataValue.int(status.rows),
    }
    if status.last_loaded_at is not None and status.age is not None:
        metadata["last_loaded_at"] = dg.MetadataValue.timestamp(status.last_loaded_at)
        metadata["age_hours"] = dg.MetadataValue.float(round(status.age.total_seconds() / 3600, 2))
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(["raw", status.source]),
        check_name=FRESHNESS_CHECK,
        passed=status.level == "fresh",
        severity=dg.AssetCheckSeverity.WARN if status.level == "warn" else dg.AssetCheckSeverity.ERROR,
        description=status.describe(source),
        metadata=metadata,
    )


def build_freshness_checks(sources: list[Source]) -> dg.AssetChecksDefinition:
    """One check op for all sources (one connection), subsettable per source."""
    by_key = {dg.AssetKey(["raw", s.name]): s for s in sources}
    specs = [
        dg.AssetCheckSpec(
            name=FRESHNESS_CHECK,
            asset=key,
            blocking=False,
            description=(
                f"raw.{s.name} was loaded recently: its latest _loaded_at is at most {s.freshness.warn_after} "
                f"old (warning) / {s.freshness.error_after} (error). Policy: sen/contracts/sources.yml."
            ),
        )
        for key, s in by_key.items()
    ]

    @dg.multi_asset_check(
        specs=specs,
        name="raw_source_freshness",
        description="Age of the latest load of every raw source against its contract policy.",
        can_subset=True,
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator[dg.AssetCheckResult]:
        now = datetime.now(UTC)
        # Read-write like every other step: DuckDB refuses a read-only connection in a process that holds a
        # read-write one to the same file. Nothing is written.
        with warehouse.connect() as conn:
            for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.asset_key.to_string()):
                source = by_key[check_key.asset_key]
                status = source_freshness(conn, source, now)
                if status.level != "fresh":
                    context.log.warning(status.describe(source))
                yield check_result(status, source)

    return _check


raw_freshness_checks = build_freshness_checks(list(load_contract().sources.values()))

freshness_job = dg.define_asset_job(
    name="source_freshness",
    selection=dg.AssetSelection.checks(raw_freshness_checks),
    description="The freshness checks of every raw source, without materializing anything.",
    # It opens the warehouse read-write (see above): queued with the other writers.
    tags=WAREHOUSE_TAG,
)

freshness_schedule = dg.ScheduleDefinition(
    name="source_freshness_hourly",
    job=freshness_job,
    cron_schedule=FRESHNESS_CRON,
    execution_timezone="UTC",
    default_status=automation_default_status(),
    description="Checks every hour that each raw source was loaded recently (contract freshness policies).",
)
