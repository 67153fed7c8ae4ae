"""The processing window of the event-sized (incremental) dbt models, and the dbt vars of a run.

The models are not Dagster-partitioned: every run processes every row loaded since their last run, and
recomputes the events of a window of whole UTC days plus `lookback_days` before it (docs/incremental.md). The
window of a run is the last complete UTC day before its reference time (the run clock), whoever launched it:
the command line, the schedule, a sensor, or "Materialize all" in the UI, which therefore starts a build at
once, as the command line does (a partitioned asset would make the UI ask for partitions first, none chosen).
A backfill (recompute a range of days, e.g. after a change of logic) is run config of the dbt blocks:
`window_start` / `window_end`, inclusive ISO days.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from sen.settings import Settings, as_of_sql_literal


def dbt_vars(
    as_of: datetime, extra: Mapping[str, str] | None = None, settings: Settings | None = None
) -> str:
    """The --vars of every dbt invocation: the run's reference time (UTC), the business time zone and currency
    (CDP_TIMEZONE, CDP_CURRENCY), plus the processing window.

    The only way the reference time reaches dbt. `dbt parse` gets the same value (orchestration/cli.py), so that
    the dbt steps of the run reuse its partial parse instead of parsing the project again.
    """
    business = (settings or Settings.from_env()).dbt_business_vars()
    return json.dumps({"as_of": as_of_sql_literal(as_of), **business, **(extra or {})})


def window_vars(start: datetime | date, end: datetime | date) -> dict[str, str]:
    """dbt vars for the window [start, end): whole UTC days, as `min_date` / `max_date`."""
    start_day = start.date() if isinstance(start, datetime) else start
    end_day = end.date() if isinstance(end, datetime) else end
    if end_day <= start_day:
        raise ValueError(f"empty processing window: {start_day.isoformat()} .. {end_day.isoformat()}")
    return {"min_date": start_day.isoformat(), "max_date": end_day.isoformat()}


def main_run_day(as_of: datetime) -> date:
    """The day a run processes: the last complete UTC day before its reference time (any date, past or
    future: a backtest on a 1997 history processes its own last day)."""
    reference = as_of.astimezone(UTC) if as_of.tzinfo is not None else as_of
    return reference.date() - timedelta(days=1)


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an ISO date (e.g. 2026-09-01)") from None


# Runs of the live lane (orchestration/live.py) carry this tag: no window, only the rows loaded since the last run.
LIVE_TAG = "sen/live"


def run_window_vars(
    as_of: datetime, window_start: str = "", window_end: str = "", *, live: bool = False
) -> dict[str, str]:
    """The window vars of a run: the days ``window_start`` .. ``window_end`` (inclusive) when given (a
    backfill), else the last complete UTC day before ``as_of``; none for a live-lane run.

    Every dbt step of a run gets the same --vars, so they reuse one parse; only the event-sized models use them.
    A live-lane run gets no window: every few minutes it takes the rows loaded since the last run, and
    recomputing a day of events each cycle would make its cost grow with that day's traffic. It gets `live`
    instead: person_events and int_record_persons, tables rebuilt by the nightly build, are then updated in
    place with the new records only.
    """
    if live:
        return {"live": "true"}
    if not (window_start or window_end):
        day = main_run_day(as_of)
        return window_vars(day, day + timedelta(days=1))
    if not (window_start and window_end):
        raise ValueError(
            f"a backfill window needs both window_start and window_end (got {window_start!r}, {window_end!r})"
        )
    start, end = _day(window_start, "window_start"), _day(window_end, "window_end")
    if end < start:
        raise ValueError(f"window_end {end.isoformat()} is before window_start {start.isoformat()}")
    return window_vars(start, end + timedelta(days=1))
