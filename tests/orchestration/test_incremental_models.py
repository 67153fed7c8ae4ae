"""Incremental daily runs of the event-sized dbt models on the committed sample.

The sample is loaded and the models built, then a new day of events arrives (with late events, a very late
event and an SDK retry). The daily run must process the new rows, recompute the partition window with its
lookback, leave older rows alone, and end equal to a full refresh on the same input.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from sen.config import DBT_PROJECT_DIR
from sen.contracts import load_contract
from sen.ingest import load_source
from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.e2e

SELECTION = "+tag:event_sized"  # the event-sized models and the staging views they read
MODELS = [
    "staging.stg_tracking__events",
    "staging.stg_esp__email_events",
    "staging.stg_ads__touchpoints",
    "intermediate.int_identifier_occurrences",
]
LOOKBACK_DAYS = 3  # the default of var lookback_days
# The sample's last events file; the new day follows it and is the partition the daily run processes.
LAST_DAY = date.fromisoformat(sorted(p.name[:10] for p in (SAMPLE_DIR / "events").glob("*.jsonl.gz"))[-1])
NEW_DAY = LAST_DAY + timedelta(days=1)
VARS = {
    "as_of": f"{NEW_DAY + timedelta(days=1)} 00:00:00",
    "min_date": NEW_DAY.isoformat(),
    "max_date": (NEW_DAY + timedelta(days=1)).isoformat(),
}
WINDOW_START = (NEW_DAY - timedelta(days=LOOKBACK_DAYS)).isoformat()


def dbt_run(workdir: Path, warehouse: Path, *extra: str) -> None:
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "run",
            "--select",
            SELECTION,
            "--vars",
            json.dumps(VARS),
            "--target-path",
            str(workdir / "target"),
            "--log-path",
            str(workdir / "logs"),
            *extra,
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "CDP_WAREHOUSE": str(warehouse)},
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        pytest.fail(
            f"dbt run {' '.join(extra)} failed:\n{completed.stdout[-5000:]}\n{completed.stderr[-2000:]}"
        )


def shift_timestamp(value: str, days: int) -> str:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) + timedelta(days=days)
    text = parsed.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if value.endswith("Z") else text


def read_events(day: date, valid: set[str]) -> list[dict]:
    """The events of one sample file that the loader accepted (the sample plants some bad lines)."""
    events = []
    with gzip.open(SAMPLE_DIR / "events" / f"{day.isoformat()}.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and str(event.get("messageId", "")).strip() in valid:
                events.append(event)
    return events


def moved(event: dict, days: int, suffix: str) -> dict:
    copy = {**event, "messageId": f"{event['messageId']}-{suffix}"}
    for field in ("timestamp", "sentAt", "receivedAt"):
        if copy.get(field):
            copy[field] = shift_timestamp(copy[field], days)
    return copy


def new_day_file(data_dir: Path, valid: set[str]) -> dict[str, list[str]]:
    """The new day's events file: the sample's last day moved one day later, late and very late events, a
    retry. Returns the message ids of each kind."""
    day = [moved(e, 1, "new") for e in read_events(LAST_DAY, valid)]
    late = [
        moved(e, 0, "late") for e in read_events(LAST_DAY - timedelta(days=1), valid)[:3]
    ]  # inside the window
    very_late = [moved(e, 0, "very-late") for e in read_events(LAST_DAY - timedelta(days=45), valid)[:2]]
    retry = read_events(LAST_DAY - timedelta(days=10), valid)[:1]  # an SDK retry: the same message again
    folder = data_dir / "events"
    folder.mkdir(parents=True)
    with gzip.open(folder / f"{NEW_DAY.isoformat()}.jsonl.gz", "wt", encoding="utf-8") as handle:
        for event in [*day, *late, *very_late, *retry]:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    return {
        "day": [e["messageId"] for e in day],
        "late": [e["messageId"] for e in late],
        "very_late": [e["messageId"] for e in very_late],
        "retry": [e["messageId"] for e in retry],
    }


def table_rows(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return conn.execute(f"select count(*) from {table}").fetchall()[0][0]


# Processing markers that a full refresh cannot reproduce: the load that first brought a record into the
# occurrences (a full build sees only a record's latest load). The graph built on them must still be equal.
RUN_MARKERS = {"int_identifier_occurrences": ["_first_loaded_at"]}


def differing_rows(conn: duckdb.DuckDBPyConnection, table: str, snapshot: str) -> int:
    """Rows in one table and not the other (multiset difference, both ways), run markers aside."""
    markers = RUN_MARKERS.get(table.split(".")[-1], [])
    columns = f"* exclude ({', '.join(markers)})" if markers else "*"
    return conn.execute(
        f"""select count(*) from (
            (select {columns} from {table} except all select {columns} from {snapshot})
            union all
            (select {columns} from {snapshot} except all select {columns} from {table}))"""
    ).fetchall()[0][0]


def test_a_record_seen_again_keeps_its_first_load(daily_run):
    conn = daily_run["conn"]
    # snapshot: after the daily run; the table: after a full refresh, which sees only the latest load
    kept = conn.execute(
        """select count(*) from snapshot.int_identifier_occurrences as daily
        join intermediate.int_identifier_occurrences as full_refresh
            using (record_source, record_id, identifier_type)
        where daily._first_loaded_at < daily._loaded_at and full_refresh._first_loaded_at = full_refresh._loaded_at"""
    ).fetchall()[0][0]
    # the SDK retry of the new day: first loaded with the sample, loaded again with the new day
    assert kept > 0


def built_sample_warehouse(workdir: Path) -> Path:
    """The committed sample loaded and every model built (a full run) in workdir/wh.duckdb."""
    warehouse = workdir / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("set TimeZone = 'UTC'")
        for source in load_contract().sources.values():
            load_source(conn, source, SAMPLE_DIR)
    dbt_run(workdir, warehouse)
    return warehouse


@pytest.fixture(scope="module")
def daily_run(tmp_path_factory):
    """Sample -> full build; new day -> tampered old rows -> incremental run; snapshot; full refresh."""
    workdir = tmp_path_factory.mktemp("incremental")
    warehouse = built_sample_warehouse(workdir)

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        valid = {
            row[0] for row in conn.execute("select event_id from staging.stg_tracking__events").fetchall()
        }
    ids = new_day_file(workdir / "new_data", valid)
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("set TimeZone = 'UTC'")
        result = load_source(conn, load_contract().sources["events"], workdir / "new_data")
        assert result.rows_loaded == sum(len(v) for v in ids.values()) and not result.rows_quarantined
        # Marks on stored rows: one event before the window (a daily run must not touch it) and one inside
        # the window (the lookback recomputes it from raw). Occurrences of the old event are marked too.
        old_event, window_event = (
            conn.execute(
                f"""select event_id from staging.stg_tracking__events
                where occurred_at {op} '{WINDOW_START}' and event_id not in ({", ".join("?" * len(ids["retry"]))})
                order by occurred_at limit 1""",
                ids["retry"],
            ).fetchall()[0][0]
            for op in ("<", ">=")
        )
        original_page_name = conn.execute(
            "select page_name from staging.stg_tracking__events where event_id = ?", [old_event]
        ).fetchall()[0][0]
        conn.execute(
            "update staging.stg_tracking__events set page_name = 'MARK' where event_id in (?, ?)",
            [old_event, window_event],
        )
        conn.execute(
            "update intermediate.int_identifier_occurrences set observed_at = '2000-01-01' "
            "where record_source = 'events' and record_id = ?",
            [old_event],
        )
    dbt_run(workdir, warehouse)

    with duckdb.connect(str(warehouse)) as conn:
        marks = dict(
            conn.execute(
                "select event_id, page_name from staging.stg_tracking__events where event_id in (?, ?)",
                [old_event, window_event],
            ).fetchall()
        )
        old_occurrences = conn.execute(
            "select count(*) filter (where observed_at = '2000-01-01'), count(*) "
            "from intermediate.int_identifier_occurrences where record_source = 'events' and record_id = ?",
            [old_event],
        ).fetchall()[0]
        # Undo the marks, then keep the incremental result for the comparison with a full refresh.
        conn.execute(
            "update staging.stg_tracking__events set page_name = ? where event_id = ?",
            [original_page_name, old_event],
        )
        conn.execute(
            "update intermediate.int_identifier_occurrences set observed_at = e.occurred_at "
            "from staging.stg_tracking__events as e "
            "where record_source = 'events' and record_id = ? and e.event_id = record_id",
            [old_event],
        )
        conn.execute("create schema snapshot")
        for table in MODELS:
            conn.execute(f"create table snapshot.{table.split('.')[1]} as select * from {table}")
        raw_messages = conn.execute("select count(distinct trim(message_id)) from raw.events").fetchall()[0][
            0
        ]
        stored = {
            kind: conn.execute(
                f"select count(*) from staging.stg_tracking__events where event_id in "
                f"({', '.join('?' * len(values))})",
                values,
            ).fetchall()[0][0]
            for kind, values in ids.items()
        }

    dbt_run(workdir, warehouse, "--full-refresh")
    conn = duckdb.connect(str(warehouse), read_only=True)
    yield {
        "conn": conn,
        "ids": ids,
        "marks": marks,
        "old_event": old_event,
        "window_event": window_event,
        "old_occurrences": old_occurrences,
        "raw_messages": raw_messages,
        "stored": stored,
    }
    conn.close()


def test_new_late_and_very_late_events_are_processed(daily_run):
    ids = daily_run["ids"]
    assert daily_run["stored"] == {kind: len(set(values)) for kind, values in ids.items()}  # retries: once


def test_rows_outside_the_window_are_not_reprocessed(daily_run):
    assert daily_run["marks"][daily_run["old_event"]] == "MARK"
    marked, total = daily_run["old_occurrences"]
    assert total > 0 and marked == total


def test_the_lookback_window_is_recomputed_from_raw(daily_run):
    assert daily_run["marks"][daily_run["window_event"]] != "MARK"


@pytest.mark.parametrize("table", MODELS)
def test_incremental_result_equals_a_full_refresh(daily_run, table):
    conn = daily_run["conn"]
    snapshot = f"snapshot.{table.split('.')[1]}"
    assert table_rows(conn, table) == table_rows(conn, snapshot) > 0
    assert differing_rows(conn, table, snapshot) == 0


def test_every_message_is_stored_once(daily_run):
    conn = daily_run["conn"]
    assert table_rows(conn, "snapshot.stg_tracking__events") == daily_run["raw_messages"]
