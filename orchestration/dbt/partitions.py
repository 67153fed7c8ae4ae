"""Daily partitions of the event-sized (incremental) dbt models, and the dbt vars of a partition window.

A partition is one UTC day of event time. Every run of those models is partitioned: the main job (command
line, daily schedule, file sensor) runs the last complete day before the run's reference time; a backfill runs a range as one
dbt invocation. The models process every row loaded since their last run, and recompute the events of the
partition window plus `lookback_days` before it (docs/incremental.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import dagster as dg

from sen.settings import Settings, as_of_sql_literal


def partitions_start() -> str:
    """The first day that can be backfilled (CDP_PARTITIONS_START). Data before it is still processed by
    unpartitioned runs."""
    return Settings.from_env().partitions_start


# Event time is naive UTC everywhere in the warehouse, so partitions are UTC days.
daily_event_partitions = dg.DailyPartitionsDefinition(start_date=partitions_start(), timezone="UTC")


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


def run_window_vars(tags: Mapping[str, str]) -> dict[str, str]:
    """The window vars of a run, from its partition tags; empty for an unpartitioned run.

    Read from the run rather than from one step, so every dbt step of a run (partitioned block or not) gets the
    same --vars and reuses one parse; only the event-sized models use the window.
    """
    start_key = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG)
    end_key = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG)
    if not (start_key and end_key):
        return {}
    return window_vars(
        daily_event_partitions.time_window_for_partition_key(start_key).start,
        daily_event_partitions.time_window_for_partition_key(end_key).end,
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
    keys = daily_event_partitions.get_partition_keys()
    if not keys or day < keys[0]:
        raise ValueError(
            f"the reference time {reference.isoformat()} is before the first daily partition "
            f"(CDP_PARTITIONS_START={partitions_start()})"
        )
    return min(day, keys[-1])
