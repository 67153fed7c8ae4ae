"""``python -m sen.quality [--engine sql|gx|auto] [--warehouse PATH]``: validate every raw table and print a
report; exits 1 when a critical expectation fails. Opens the warehouse read-only."""

from __future__ import annotations

import argparse
import sys
import time

import duckdb

from sen import config
from sen.quality.validate import validate_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sen.quality", description=__doc__)
    parser.add_argument("--warehouse", default=None, help="DuckDB file (default: CDP_WAREHOUSE)")
    parser.add_argument("--engine", choices=["auto", "sql", "gx"], default="auto")
    parser.add_argument("--verbose", action="store_true", help="list passing expectations too")
    args = parser.parse_args(argv)
    path = args.warehouse or str(config.warehouse_path())
    conn = duckdb.connect(path, read_only=True)
    try:
        conn.execute("set TimeZone = 'UTC'")
        started = time.perf_counter()
        reports = validate_all(conn, engine=args.engine)
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    total = passed = 0
    for name, report in reports.items():
        verdict = "ok" if report.critical_success else "CRITICAL FAIL"
        warn = "" if report.warning_success else " (warnings)"
        rows = f"{report.row_count:,}" if report.row_count is not None else "-"
        print(f"{name:<22} {rows:>12} rows  {report.engine:<18} {verdict}{warn}")
        for outcome in report.outcomes:
            total += 1
            passed += outcome.success
            if args.verbose or not outcome.success:
                print(f"    [{outcome.severity:<8}] {outcome.name:<32} {outcome.summary()}")
    print(
        f"\n{passed}/{total} expectations passed on {path} in {elapsed:.1f} s (as of {config.as_of().isoformat()})"
    )
    return 0 if all(r.critical_success for r in reports.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
