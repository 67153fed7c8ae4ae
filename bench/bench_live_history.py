"""Does a live cycle's update of the per-record person tables grow with the event history?

`int_record_persons` and `person_events` are rebuilt whole by the nightly build; a live run (dbt var `live`)
updates them in place with the records loaded since the last run (docs/collect.md). This script takes a built
warehouse, multiplies its event history by each `--scales` factor (copies of the staged events and of their
identifier occurrences under new ids, loaded before everything else, so the same people hold 10x the events),
and times, at each scale:

- `full`: the nightly build of the two models (tables, every record): what each live cycle cost before;
- `live`: a live update after a new batch of `--batch` events (what a cycle costs now);
- `live+merge`: the same after the identity resolution merged one person into another (their stored records are
  looked up and recomputed).

Times are dbt's own per-model figures (the dbt process start and parse are the same at every scale).

    flock /tmp/sen-heavy.lock .venv/bin/python bench/bench_live_history.py --warehouse /tmp/sen-bench-live/sen.duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "dbt_project"
MODELS = ("int_record_persons", "person_events")
LINE = re.compile(r"OK created sql \w+ model \w+\.(\w+) .*? in (\d+(?:\.\d+)?)s\]")


def dbt_run(warehouse: Path, work: Path, live: bool) -> dict[str, float]:
    variables = {"as_of": "2026-12-07 00:00:00", **({"live": "true"} if live else {})}
    args = [
        str(Path(sys.executable).with_name("dbt")),
        "run",
        "--select",
        *MODELS,
        "--vars",
        json.dumps(variables),
    ]
    args += ["--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
    args += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    done = subprocess.run(
        args, env={**os.environ, "CDP_WAREHOUSE": str(warehouse)}, capture_output=True, text=True, check=False
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    if done.returncode != 0:
        raise SystemExit(text[-3000:])
    return {name: float(seconds) for name, seconds in LINE.findall(text)}


def inflate(conn: duckdb.DuckDBPyConnection, copies: int) -> None:
    """`copies` more copies of every staged event and of its occurrences, under new ids, loaded a day earlier
    than anything else (so they are history, before every watermark)."""
    for k in range(1, copies + 1):
        conn.execute(
            f"""insert into staging.stg_tracking__events
            select * replace (event_id || '-h{k}' as event_id,
                              _loaded_at - interval {k} day as _loaded_at)
            from staging.stg_tracking__events where event_id not like '%-h%'"""
        )
        conn.execute(
            f"""insert into intermediate.int_identifier_occurrences
            select * replace (record_id || '-h{k}' as record_id,
                              _loaded_at - interval {k} day as _loaded_at,
                              _first_loaded_at - interval {k} day as _first_loaded_at)
            from intermediate.int_identifier_occurrences
            where record_source = 'events' and record_id not like '%-h%'"""
        )
    conn.execute("checkpoint")


def new_batch(conn: duckdb.DuckDBPyConnection, size: int, tag: str) -> None:
    """`size` new events (copies of recent ones under new ids), loaded now: a cycle's new data."""
    conn.execute(
        f"""create or replace temp table batch as
        select event_id from staging.stg_tracking__events where event_id not like '%-h%'
        order by event_id limit {size}"""
    )
    conn.execute(
        f"""insert into staging.stg_tracking__events
        select * replace (event_id || '-{tag}' as event_id, now() as _loaded_at)
        from staging.stg_tracking__events where event_id in (select event_id from batch)"""
    )
    conn.execute(
        f"""insert into intermediate.int_identifier_occurrences
        select * replace (record_id || '-{tag}' as record_id, now() as _loaded_at, now() as _first_loaded_at)
        from intermediate.int_identifier_occurrences
        where record_source = 'events' and record_id in (select event_id from batch)"""
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--warehouse", type=Path, required=True, help="a warehouse built by the nightly build"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sen-bench-live-history"))
    parser.add_argument("--scales", default="1,10,30")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    report = []
    for scale in [int(s) for s in args.scales.split(",")]:
        warehouse = args.workdir / f"x{scale}.duckdb"
        shutil.copy(args.warehouse, warehouse)
        with duckdb.connect(str(warehouse)) as conn:
            inflate(conn, scale - 1)
            events = conn.execute("select count(*) from staging.stg_tracking__events").fetchone()[0]
        full = dbt_run(warehouse, args.workdir, live=False)  # the nightly build: tables, every record
        with duckdb.connect(str(warehouse)) as conn:
            new_batch(conn, args.batch, "b1")
        live = dbt_run(warehouse, args.workdir, live=True)
        with duckdb.connect(str(warehouse)) as conn:
            new_batch(conn, args.batch, "b2")
            person = conn.execute(
                "select person_id from marts.person_events order by event_id limit 1"
            ).fetchone()
            conn.execute(
                "insert into identity.person_id_history values (?, 'merged', 'p_bench', 'bench', "
                "cast(now() as timestamp) + interval 1 hour)",
                [person[0]],
            )
        merged = dbt_run(warehouse, args.workdir, live=True)
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            rows = conn.execute("select count(*) from marts.person_events").fetchone()[0]
        row = {"scale": scale, "staged_events": events, "person_events": rows, "full_s": full}
        row |= {"live_s": live, "live_merge_s": merged}
        print(json.dumps(row), flush=True)
        report.append(row)
        warehouse.unlink()
    (args.workdir / "results.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
