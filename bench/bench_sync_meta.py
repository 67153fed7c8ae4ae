"""Benchmark: a 1,000,000-member audience synced to the Meta Custom Audiences stand-in.

Measures, end to end (diff in DuckDB, normalization + SHA-256 in SQL, batches of 10,000 over HTTP,
state commits):
  1. the first sync: seconds and rows per second (target >= 50,000 rows/s);
  2. a resync after a 1% change (0.5% identifiers changed, 0.25% left, 0.25% joined): seconds and rows
     sent (target < 5% of the first sync's time).
Wall times depend on what else the machine runs, so the report also gives the load average and the CPU
seconds spent by the client and by the stand-in.
The stand-in runs in its own process so it does not compete with the client for the GIL; it verifies
every hashed value's length (a cheap check, as a full regex over 5 M values per run would be the
bottleneck) and keeps the audience, which is compared with the expected members at the end.

    .venv/bin/python bench/bench_sync_meta.py [--rows 1000000] [--workdir /tmp/retl_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reverse_etl.config import parse_sync  # noqa: E402
from reverse_etl.engine import run_sync  # noqa: E402

TOKEN = "bench-meta-token-not-a-secret"
AUDIENCE_ID = "6100000000042"


def build_audience(conn: duckdb.DuckDBPyConnection, rows: int) -> None:
    """Audience rows as the identity layer stores them: E.164 phones, mixed-case emails, UTF-8 names.
    One phone in a hundred is in national format, so the phonenumbers slow path is exercised too."""
    conn.execute(
        f"""CREATE OR REPLACE TABLE audience_bench AS
        SELECT 'p' || lpad(i::VARCHAR, 8, '0') AS person_id,
               'Customer.' || i || '@Example.vn' AS email,
               CASE WHEN i % 100 = 0 THEN '09' || lpad((10000000 + i % 89999999)::VARCHAR, 8, '0')
                    ELSE '+849' || lpad((10000000 + i % 89999999)::VARCHAR, 8, '0') END AS phone,
               ['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Hoàng'][1 + i % 5] AS last_name,
               ['An', 'Bình', 'Chi', 'Dũng', 'Hà', 'Minh'][1 + i % 6] AS first_name,
               'VN' AS country
        FROM range({rows}) r(i)"""
    )


def apply_one_percent_change(conn: duckdb.DuckDBPyConnection, rows: int) -> dict[str, int]:
    step = 200  # every 200th row changes email (0.5%)
    changed = conn.execute(
        f"UPDATE audience_bench SET email = 'moved.' || person_id || '@example.vn' WHERE hash(person_id) % {step} = 0"
    ).fetchone()[0]
    left = conn.execute("DELETE FROM audience_bench WHERE hash(person_id) % 400 = 1").fetchone()[0]
    joined = rows // 400
    conn.execute(
        f"""INSERT INTO audience_bench
        SELECT 'n' || lpad(i::VARCHAR, 8, '0'), 'newcomer.' || i || '@example.vn',
               '+8498' || lpad(i::VARCHAR, 7, '0'), 'Võ', 'Lan', 'VN'
        FROM range({joined}) r(i)"""
    )
    return {"changed": int(changed), "left": int(left), "joined": joined}


def start_standin() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reverse_etl.testing.standins",
            "meta",
            "--token",
            TOKEN,
            "--audience",
            AUDIENCE_ID,
            "--cheap-hex-check",
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise RuntimeError("stand-in did not start")
    return proc, base_url


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", default="/tmp/retl_bench")
    args = parser.parse_args()

    # The phone slow path imports the project normalizer (pandas, pyarrow: ~1.5 CPU-s). A long-lived
    # process (Dagster) pays that once at start-up, so it is imported here, outside the timed syncs.
    t = time.process_time()
    import sen.normalize  # noqa: F401

    import_cpu = time.process_time() - t
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    db = workdir / "bench.duckdb"
    os.environ["BENCH_META_TOKEN"] = TOKEN
    proc, base_url = start_standin()
    try:
        sync = parse_sync(
            {
                "name": "bench_meta",
                "model": "audience_bench",
                "primary_key": "person_id",
                "mode": "add_remove",
                "schedule": "0 3 * * *",
                "mapping": {
                    "EMAIL": "email",
                    "PHONE": "phone",
                    "FN": "first_name",
                    "LN": "last_name",
                    "COUNTRY": "country",
                },
                "destination": {
                    "type": "meta_custom_audiences",
                    "audience_id": AUDIENCE_ID,
                    "token_env": "BENCH_META_TOKEN",
                    "base_url": base_url,
                    "batch_size": 10_000,
                    "rate_limit_per_s": 1000,
                    "timeout_s": 120,
                },
            },
            source="bench",
        )
        conn = duckdb.connect(str(db))
        t = time.perf_counter()
        build_audience(conn, args.rows)
        print(f"built {args.rows:,} audience rows in {time.perf_counter() - t:.1f}s", flush=True)

        cpu = time.process_time()
        first = run_sync(conn, sync)
        first_cpu = time.process_time() - cpu
        first_rate = first.sent_rows / first.duration_s
        print(
            f"first sync: {first.sent_rows:,} rows in {first.duration_s:.2f}s = {first_rate:,.0f} rows/s "
            f"({first.requests} requests)",
            flush=True,
        )

        change = apply_one_percent_change(conn, args.rows)
        cpu = time.process_time()
        resync = run_sync(conn, sync)
        resync_cpu = time.process_time() - cpu
        ratio = resync.duration_s / first.duration_s
        print(
            f"1% change {change}: resync sent {resync.sent_rows:,} rows in {resync.duration_s:.2f}s "
            f"= {ratio:.1%} of the first sync ({resync.requests} requests)",
            flush=True,
        )

        summary = httpx.get(f"{base_url}/__standin/summary", timeout=30).json()
        members = summary["members"][AUDIENCE_ID]["EMAIL"]
        expected = conn.execute("SELECT count(DISTINCT lower(trim(email))) FROM audience_bench").fetchone()[0]
        cpu = time.process_time()
        noop = run_sync(conn, sync)
        noop_cpu = time.process_time() - cpu
        conn.close()
        report = {
            "rows": args.rows,
            "load_average_1m": round(os.getloadavg()[0], 1),
            "cpu_cores": os.cpu_count(),
            "first_sync_client_cpu_s": round(first_cpu, 2),
            "resync_client_cpu_s": round(resync_cpu, 2),
            "first_sync_s": round(first.duration_s, 2),
            "first_sync_rows_per_s": round(first_rate),
            "resync_s": round(resync.duration_s, 2),
            "resync_rows_sent": resync.sent_rows,
            "resync_fraction_of_first": round(ratio, 4),
            "resync_cpu_fraction_of_first": round(resync_cpu / first_cpu, 4),
            "noop_resync_s": round(noop.duration_s, 2),
            "noop_resync_client_cpu_s": round(noop_cpu, 2),
            "normalizer_import_cpu_s_untimed": round(import_cpu, 2),
            "destination_members_ok": members == expected,
            "targets_met": first_rate >= 50_000 and ratio < 0.05 and members == expected,
        }
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report["standin_cpu_s_both_syncs"] = round(usage.ru_utime + usage.ru_stime, 2)
    print(json.dumps(report, indent=2))
    return 0 if report["targets_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
