"""Daily partitions of the event-sized (incremental) dbt models, and the dbt vars of a partition window.

A partition is one UTC day of event time. Every run of those models is partitioned: the main job (command
line, daily schedule, file sensor) runs the last complete day before the run's reference time; a backfill runs a range as one
dbt invocation. The models process every row loaded since their last run, and recompute the events of the
partition window plus `lookback_days` before it (docs/incremental.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from sen.settings import DEFAULT_PARTITIONS_START, Settings, as_of_sql_literal


def recorded_first_day(settings: Settings) -> str | None:
    """The first day of the loaded data, as the ingestion recorded it next to the warehouse (None before any load)."""
    path = settings.first_day_path
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def record_first_day(day: date, settings: Settings | None = None) -> None:
    """Move the recorded first day back to ``day`` if it is earlier (never forward: loaded data stays loaded)."""
    settings = settings or Settings.from_env()
    current = recorded_first_day(settings)
    if current is not None and current <= day.isoformat():
        return
    settings.first_day_path.parent.mkdir(parents=True, exist_ok=True)
    settings.first_day_path.write_text(day.isoformat() + "\n", encoding="utf-8")


# The time axis of the sources whose first day starts the partitions: the event-sized models' sources and the
# orders (a shop with orders only still gets partitions from its first order).
EVENT_TIME_COLUMNS = {
    "events": "timestamp",
    "email_events": "occurred_at",
    "ad_touchpoints": "occurred_at",
    "orders": "created_at",
    "pos_transactions": "transacted_at",
}


def first_loaded_day(conn, source: str) -> date | None:
    """The first day of raw.<source>'s event time (text in raw: its leading ISO date), None if not a time axis."""
    column = EVENT_TIME_COLUMNS.get(source)
    if column is None:
        return None
    value = conn.execute(
        f'select min(try_cast(left(trim("{column}"), 10) as date)) from raw."{source}"'
    ).fetchone()[0]
    return value


def partitions_start(settings: Settings | None = None) -> str:
    """The first day that can be backfilled: CDP_PARTITIONS_START if set, else the first day of the data.

    A Dagster partitions definition must be known when the definitions load, before any data is read, and
    scanning the data folder there would cost every process that loads them. So the ingestion assets record the
    first day they loaded in a one-line file next to the warehouse (`<warehouse>.first_day`), the definitions
    read it (a file read), and the command line moves it back to its run's day before a first build on history.
    Before anything is loaded the partitions start at DEFAULT_PARTITIONS_START.
    """
    settings = settings or Settings.from_env()
    return settings.partitions_start or recorded_first_day(settings) or DEFAULT_PARTITIONS_START


def event_partitions() -> dg.DailyPartitionsDefinition:
    # Event time is naive UTC everywhere in the warehouse, so partitions are UTC days.
    return dg.DailyPartitionsDefinition(start_date=partitions_start(), timezone="UTC")


# The partitions when this module was imported (tests, and code that needs a module-level definition); the
# definitions and the main run's partition are computed when they are built, from the recorded first day.
daily_event_partitions = event_partitions()


def dbt_vars(
    as_of: datetime, extra: Mapping[str, str] | None = None, settings: Settings | None = None
) -> str:
    """The --vars of every dbt invocation: the run's reference time (UTC), the business time zone and currency
    (CDP_TIMEZONE, CDP_CURRENCY), plus a partition window if any.

    The only way the reference time reaches dbt. `dbt parse` gets the same value (orchestration/cli.py), so that
    the dbt steps of the run reuse its partial parse instead of parsing the project again.
    """
    business = (settings or Settings.from_env()).dbt_business_vars()
    return json.dumps({"as_of": as_of_sql_literal(as_of), **business, **(extra or {})})


def window_vars(start: datetime, end: datetime) -> dict[str, str]:
    """dbt vars for the partition window [start, end): whole UTC days, as `min_date` / `max_date`."""
    if end <= start:
        raise ValueError(f"empty partition window: {start.isoformat()} .. {end.isoformat()}")
    return {"min_date": start.date().isoformat(), "max_date": end.date().isoformat()}


# Run tags Dagster sets on a partitioned run: one partition, or the bounds of a range (single-run backfill).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


# Runs of the live lane (orchestration/live.py) carry this tag: no window, only the rows loaded since the last run.
LIVE_TAG = "sen/live"


def run_window_vars(tags: Mapping[str, str]) -> dict[str, str]:
    """The window vars of a run, from its partition tags; empty for an unpartitioned run.

    Read from the run rather than from one step, so every dbt step of a run (partitioned block or not) gets the
    same --vars and reuses one parse; only the event-sized models use the window. A live-lane run gets none:
    every few minutes it takes the rows loaded since the last run, and recomputing days of events each cycle
    would make its cost grow with the traffic of those days.
    """
    if tags.get(LIVE_TAG):
        return {}
    start_key = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG)
    end_key = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG)
    if not (start_key and end_key):
        return {}
    partitions = event_partitions()
    return window_vars(
        partitions.time_window_for_partition_key(start_key).start,
        partitions.time_window_for_partition_key(end_key).end,
    )


def partition_window_vars(partition_key: str) -> dict[str, str]:
    return run_window_vars({PARTITION_TAG: partition_key})


def main_run_partition_key(as_of: datetime) -> str:
    """The partition a main-job run processes: the last complete UTC day before the reference time.

    Clamped to the partitions that exist (the last one is yesterday by the wall clock), so a reference time
    in the future still runs; a reference time before CDP_PARTITIONS_START is an error.
    """
    reference = as_of
    if reference.tzinfo is not None:
        reference = reference.astimezone(UTC)
    day = (reference.date() - timedelta(days=1)).isoformat()
    keys = event_partitions().get_partition_keys()
    if not keys or day < keys[0]:
        raise ValueError(
            f"the reference time {reference.isoformat()} is before the first daily partition {keys[0] if keys else ''} "
            "(the first day of the loaded data, or CDP_PARTITIONS_START if set): nothing was loaded before it"
        )
    return min(day, keys[-1])
