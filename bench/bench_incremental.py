"""Benchmark: one daily incremental run against a full rebuild of the event-sized (incremental) dbt models.

    .venv/bin/python bench/bench_incremental.py                          # 50 million events, 364 days
    .venv/bin/python bench/bench_incremental.py --events 2000000 --verify

Steps, in a scratch directory (deleted afterwards unless --keep):
1. The committed sample is loaded with the real loader, so every raw table exists with realistic rows.
2. N synthetic events of history are written directly with DuckDB SQL: copies of the sample's events with
   ids, emails and device ids suffixed per copy (so people, devices and emails grow with N) and timestamps
   shifted so that the copies cover `--days` days. This bypasses file reading and contract validation (not
   what is measured here). Each copy of a sample file is one synthetic file, loaded at 02:00 the day after its
   date.
3. Full build of the event-sized models (tag event_sized), timed. With --chunks 1 it is one
   `dbt run --full-refresh` over the whole history. A single full refresh of 50M events needs more temporary
   disk than a shared machine has (stg_tracking__events materializes its parsed columns once: tens of GB at
   50M rows), so by default the history arrives in 10 consecutive loads by load time and is built as
   `python -m orchestration.cli rebuild-events` builds it: the event staging models and the occurrences with
   --full-refresh after the first load and incrementally after the others, then one full refresh of the
   identity graph; the sum is the full-build time.
4. One new day arrives: copies of the sample's busiest day moved to the day after the history (as many rows
   as an average day), 1% late events of the two previous days and SDK retries of yesterday's messages, all
   with a new load time.
5. Daily run: the same `dbt run` without --full-refresh, with the window the main job passes (the
   new day, plus the 3-day lookback), timed, with the time of each model. Then `dbt test` of those models as
   the daily run tests them (rows loaded since the window start) and on whole tables, timed for information.
   The event-sized models include the identity graph (int_identity_nodes/edges, incremental as well).
6. --verify: a second full refresh on the same input must give the same rows as the daily run.

The report gives both times and their ratio (target: the daily run under 10% of the full rebuild).
DuckDB runs with --memory-limit (default 6GB) and spills to the scratch directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from orchestration.dbt.rebuild import EVENT_SIZED, EVENT_SIZED_TABLES, IDENTITY_GRAPH  # noqa: E402
from sen.config import DBT_PROJECT_DIR  # noqa: E402
from sen.contracts import load_contract  # noqa: E402
from sen.ingest import load_source  # noqa: E402

SAMPLE_DIR = REPO_ROOT / "data_samples" / "sample"
FILE_DAY = r"regexp_extract(s._source_file, '(\d{4}-\d{2}-\d{2})', 1)::date"


def connect(warehouse: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """A connection of this script (not dbt's) under the same memory limit: without one, DuckDB may take 80%
    of the machine's memory moving millions of rows, and the kernel kills the benchmark."""
    conn = duckdb.connect(str(warehouse))
    conn.execute("set TimeZone = 'UTC'")
    conn.execute(f"set memory_limit = '{memory_limit}'")
    return conn


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    return conn.execute(sql, params or []).fetchall()[0][0]


def utc(column: str) -> str:
    return f"(try_cast({column} as timestamptz) at time zone 'UTC')"


def copy_rows_sql(replica: str, shift_days: str, loaded_at: str, source: str, where: str = "true") -> str:
    """Sample events as copy `replica` (a SQL expression over r.i), moved by `shift_days` days."""
    suffix = f"'-r' || ({replica})"
    shift = f"to_days(cast({shift_days} as integer))"

    def moved(column: str) -> str:
        return f"strftime({utc(column)} + {shift}, '%Y-%m-%dT%H:%M:%S.%gZ')"

    return f"""
        select
            s.message_id || {suffix},
            s.type, s.event, s.name,
            s.anonymous_id || {suffix},
            case when s.user_id is not null then s.user_id || 'R' || ({replica}) end,
            {moved("s.timestamp")},
            {moved("s.sent_at")},
            {moved("s.received_at")},
            -- Emails and device ids differ per copy, like the people behind them.
            replace(replace(s.context, '"email":"', '"email":"r' || ({replica}) || '.'),
                    '"id":"', '"id":"r' || ({replica}) || '-'),
            s.properties,
            replace(s.traits, '"email":"', '"email":"r' || ({replica}) || '.'),
            'synthetic/events/' || strftime({FILE_DAY} + {shift}, '%Y-%m-%d') || '-r' || ({replica}) || '.jsonl.gz',
            s._source_line,
            -- One synthetic file per copy of a sample file: (checksum, line) stays unique, as in real loads.
            s._file_sha256 || '-r' || ({replica}),
            'bench',
            {loaded_at}
        from {source}
        where {where}
    """


def write_history(conn: duckdb.DuckDBPyConnection, n_events: int, days: int) -> tuple[date, int]:
    """About n_events synthetic rows covering `days` days into history.pending_events, waiting to be "loaded"
    into raw.events (emptied); returns (last day, rows)."""
    conn.execute("create or replace temp table sample_events as select * from raw.events")
    conn.execute("create schema if not exists history")
    conn.execute("create or replace table history.pending_events as select * from raw.events limit 0")
    first, last = conn.execute(
        f"select min({utc('timestamp')})::date, max({utc('timestamp')})::date from sample_events"
    ).fetchall()[0]
    span = (last - first).days + 1
    sample_rows = scalar(conn, "select count(*) from sample_events")
    copies = max(1, round(n_events / sample_rows))
    blocks = max(1, days // span)  # copy i lands in block i % blocks, each block `span` days earlier
    conn.execute("delete from raw.events")
    step = max(1, 2_000_000 // sample_rows)  # about 2M rows per statement keeps memory flat
    for start in range(0, copies, step):
        end = min(copies, start + step)
        source = f"sample_events as s, range({start}, {end}) as r(i)"
        conn.execute(
            "insert into history.pending_events "
            + copy_rows_sql(
                replica="r.i",
                shift_days=f"-(r.i % {blocks}) * {span}",
                loaded_at=(
                    f"({FILE_DAY} + to_days(cast(-(r.i % {blocks}) * {span} as integer)) + interval 26 hour) "
                    "at time zone 'UTC'"
                ),
                source=source,
            )
        )
    return last, scalar(conn, "select count(*) from history.pending_events")


def backdate_other_sources(conn: duckdb.DuckDBPyConnection) -> None:
    """The other sources were loaded now, after the synthetic history's load times: move them before it, as
    in a real warehouse where load times grow with the wall clock across sources (the identity graph's
    watermark relies on it, docs/incremental.md)."""
    first_load = scalar(conn, "select min(_loaded_at) from history.pending_events")
    for source in load_contract().sources:
        if source != "events":
            conn.execute(
                f'update raw."{source}" set _loaded_at = ?::timestamptz - interval 1 hour', [first_load]
            )


def load_history_chunks(
    warehouse: Path, chunks: int, workdir: Path, history_vars: dict[str, str], memory_limit: str
) -> tuple[float, list[float]]:
    """Move the pending history into raw.events in `chunks` consecutive loads (by load time) and run the
    event-sized models after each: a full refresh after the first, incremental runs after the others; with
    several chunks the identity graph is left out of those runs and gets one full refresh at the end (the
    order of `python -m orchestration.cli rebuild-events`)."""
    with connect(warehouse, memory_limit) as conn:
        loads = [
            row[0]
            for row in conn.execute(
                "select distinct _loaded_at from history.pending_events order by 1"
            ).fetchall()
        ]
    bounds = [loads[round(i * len(loads) / chunks) - 1] for i in range(1, chunks + 1)]
    times: list[float] = []
    per_model: dict[str, float] = {}
    lower = None
    for upper in bounds:
        with connect(warehouse, memory_limit) as conn:
            condition = "_loaded_at <= ?" + (" and _loaded_at > ?" if lower is not None else "")
            params = [upper] if lower is None else [upper, lower]
            conn.execute(
                f"insert into raw.events select * from history.pending_events where {condition} order by _loaded_at",
                params,
            )
        command = ["run", "--select", EVENT_SIZED]
        if chunks > 1:  # the graph is built once, at the end, as rebuild-events does
            command += ["--exclude", *IDENTITY_GRAPH]
        times.append(
            dbt(command + (["--full-refresh"] if lower is None else []), workdir, warehouse, history_vars)
        )
        for name, seconds in model_times(workdir).items():
            per_model[name] = per_model.get(name, 0.0) + seconds
        lower = upper
    if chunks > 1:
        times.append(
            dbt(["run", "--select", *IDENTITY_GRAPH, "--full-refresh"], workdir, warehouse, history_vars)
        )
        per_model.update(model_times(workdir))
    with connect(warehouse, memory_limit) as conn:
        conn.execute("drop table history.pending_events")
        conn.execute("checkpoint")
    print(f"  per model, all loads: {describe_times(per_model)}")
    return sum(times), times


def add_new_day(conn: duckdb.DuckDBPyConnection, last_day: date, replica_base: int = 1_000_000) -> int:
    """One more day of events with a new load time: an average day's volume, late events and retries.
    `replica_base` numbers its copies (ids and synthetic file checksums): a further day needs another one."""
    new_day = last_day + timedelta(days=1)
    busiest, busiest_rows = conn.execute(
        f"select {utc('timestamp')}::date, count(*) from sample_events group by 1 order by 2 desc limit 1"
    ).fetchall()[0]
    per_day = scalar(conn, "select count(*) from raw.events") / max(
        1, scalar(conn, f"select count(distinct {utc('timestamp')}::date) from raw.events")
    )
    copies = max(1, round(per_day / busiest_rows))
    before = scalar(conn, "select count(*) from raw.events")
    of_busiest = f"{utc('s.timestamp')}::date = '{busiest}'"
    source = f"sample_events as s, range(0, {copies}) as r(i)"
    shift = (new_day - busiest).days
    conn.execute(
        "insert into raw.events "
        + copy_rows_sql(f"r.i + {replica_base}", str(shift), "now()", source, where=of_busiest)
    )
    for days_late in (1, 2):  # 1% more rows dated one and two days earlier, in the same new file
        conn.execute(
            "insert into raw.events "
            + copy_rows_sql(
                f"r.i + {replica_base + 100_000 * days_late}",
                str(shift - days_late),
                "now()",
                source,
                where=f"{of_busiest} and hash(s.message_id) % 100 = 0",
            )
        )
    conn.execute(  # SDK retries: every 500th message of yesterday delivered again
        f"""insert into raw.events
        select * replace (_file_sha256 || '-retry' as _file_sha256, now() as _loaded_at) from raw.events
        where {utc("timestamp")}::date = '{last_day}' and _source_line % 500 = 0"""
    )
    return scalar(conn, "select count(*) from raw.events") - before


def write_profiles(workdir: Path, memory_limit: str, max_temp: str) -> Path:
    """The project's profile with a memory limit and a bounded spill (DuckDB spills next to the database, in
    the scratch directory; a query that would spill more fails instead of filling the shared disk)."""
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    settings = profiles["sen"]["outputs"]["dev"].setdefault("settings", {})
    settings.update({"memory_limit": memory_limit, "max_temp_directory_size": max_temp})
    (workdir / "profiles.yml").write_text(yaml.safe_dump(profiles))
    return workdir


def dbt(command: list[str], workdir: Path, warehouse: Path, dbt_vars: dict[str, str]) -> float:
    args = [
        str(Path(sys.executable).parent / "dbt"),
        *command,
        "--vars",
        json.dumps(dbt_vars),
        "--profiles-dir",
        str(workdir),
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
        "--quiet",
    ]
    env = {**os.environ, "CDP_WAREHOUSE": str(warehouse)}
    started = time.perf_counter()
    subprocess.run(args, cwd=DBT_PROJECT_DIR, env=env, check=True)
    return time.perf_counter() - started


def model_times(workdir: Path) -> dict[str, float]:
    """Seconds per model of the last dbt command (dbt's run_results.json)."""
    results = json.loads((workdir / "target" / "run_results.json").read_text())
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]}


def describe_times(times: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items())


def fingerprints(warehouse: Path) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent hash of the rows of every incremental model, apart from the
    occurrences' `_first_loaded_at` (a full refresh sees only a record's latest load)."""
    columns = "columns(lambda c: c <> '_first_loaded_at')"
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return {
            table: tuple(conn.execute(f"select count(*), sum(hash({columns})) from {table}").fetchall()[0])
            for table in EVENT_SIZED_TABLES
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000_000, help="events of history (default 50M)")
    parser.add_argument("--days", type=int, default=364, help="days the history covers (default 364)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_incremental"))
    parser.add_argument(
        "--chunks",
        type=int,
        default=10,
        help="consecutive loads the history arrives in (default 10; 1 = one full refresh over all of it)",
    )
    parser.add_argument("--memory-limit", default="6GB", help="DuckDB memory limit (default 6GB)")
    parser.add_argument("--max-temp", default="25GB", help="DuckDB spill limit (default 25GB)")
    parser.add_argument("--verify", action="store_true", help="compare with a second full refresh")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    warehouse = args.workdir / "bench.duckdb"
    write_profiles(args.workdir, args.memory_limit, args.max_temp)
    try:
        started = time.perf_counter()
        with connect(warehouse, args.memory_limit) as conn:
            for source in load_contract().sources.values():
                load_source(conn, source, SAMPLE_DIR)
            last_day, history_rows = write_history(conn, args.events, args.days)
            backdate_other_sources(conn)
            conn.execute("checkpoint")
        print(f"history: {history_rows:,} events up to {last_day} in {time.perf_counter() - started:.0f} s")
        new_day = last_day + timedelta(days=1)
        # What the main job passes for CDP_AS_OF = the day after the new day: the new day's window.
        run_vars = {
            "as_of": f"{new_day + timedelta(days=1)} 00:00:00",
            "min_date": new_day.isoformat(),
            "max_date": (new_day + timedelta(days=1)).isoformat(),
        }
        # The staging views the event-sized models read (not timed).
        dbt(
            ["run", "--select", f"+{EVENT_SIZED}", "--exclude", EVENT_SIZED],
            args.workdir,
            warehouse,
            run_vars,
        )

        full, loads = load_history_chunks(
            warehouse, args.chunks, args.workdir, {"as_of": run_vars["as_of"]}, args.memory_limit
        )
        if args.chunks == 1:
            print(f"full rebuild (dbt run --full-refresh): {full:.1f} s")
        else:
            print(
                f"full rebuild, as {args.chunks} consecutive loads (a full refresh of the first, then incremental "
                f"runs; then a full refresh of the identity graph): {full:.1f} s = "
                + " + ".join(f"{t:.0f}" for t in loads)
            )

        with connect(warehouse, args.memory_limit) as conn:
            load_sample_events(conn)
            new_rows = add_new_day(conn, last_day)
        print(f"new day {new_day}: {new_rows:,} events loaded (incl. late events and retries)")

        daily = dbt(["run", "--select", EVENT_SIZED], args.workdir, warehouse, run_vars)
        print(f"daily incremental run (dbt run): {daily:.1f} s = {daily / full:.1%} of the full rebuild")
        print(f"  per model: {describe_times(model_times(args.workdir))}")
        tests = dbt(["test", "--select", EVENT_SIZED], args.workdir, warehouse, run_vars)
        print(
            f"dbt test of the event-sized models as in the daily run (rows loaded since the window start): "
            f"{tests:.1f} s; daily run + tests = {(daily + tests) / full:.1%} of the full rebuild"
        )
        whole = dbt(["test", "--select", EVENT_SIZED], args.workdir, warehouse, {"as_of": run_vars["as_of"]})
        print(f"dbt test of the event-sized models on whole tables (no window): {whole:.1f} s")

        if args.verify:
            after_daily = fingerprints(warehouse)
            dbt(["run", "--select", EVENT_SIZED, "--full-refresh"], args.workdir, warehouse, run_vars)
            after_full = fingerprints(warehouse)
            for table in EVENT_SIZED_TABLES:
                same = after_daily[table] == after_full[table]
                print(f"  {table}: {after_full[table][0]:,} rows, incremental == full refresh: {same}")
            if after_daily != after_full:
                return 1
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            for table in EVENT_SIZED_TABLES:
                print(f"  {table}: {scalar(conn, f'select count(*) from {table}'):,} rows")
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    return 0


def load_sample_events(conn: duckdb.DuckDBPyConnection) -> None:
    """The sample's events (the history replaced them in raw.events), to copy the new day from."""
    with duckdb.connect(":memory:") as scratch:
        scratch.execute("set TimeZone = 'UTC'")
        load_source(scratch, load_contract().sources["events"], SAMPLE_DIR)
        rows = scratch.sql("select * from raw.events").to_arrow_table()
    conn.register("_sample_arrow", rows)
    conn.execute("create or replace temp table sample_events as select * from _sample_arrow")
    conn.unregister("_sample_arrow")


if __name__ == "__main__":
    sys.exit(main())
