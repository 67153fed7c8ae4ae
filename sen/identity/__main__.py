"""Run identity resolution on a warehouse: python -m sen.identity [--warehouse path] [--config file]."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

from sen.config import as_of, parse_as_of, warehouse_path
from sen.identity.checks import cluster_alarm
from sen.identity.config import load_identity_config
from sen.identity.resolve import resolve_identities


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sen.identity", description=__doc__)
    parser.add_argument("--warehouse", type=Path, help="DuckDB file (default: $CDP_WAREHOUSE)")
    parser.add_argument(
        "--config", type=Path, help="identity YAML (default: $CDP_IDENTITY_CONFIG or built-in)"
    )
    parser.add_argument("--as-of", help="run timestamp (default: $CDP_AS_OF or now)")
    parser.add_argument("--max-largest", type=int, default=200, help="cluster alarm: largest person bound")
    parser.add_argument("--max-jump-ratio", type=float, default=2.0, help="cluster alarm: growth bound")
    args = parser.parse_args(argv)

    config = load_identity_config(args.config)
    run_at = parse_as_of(args.as_of) if args.as_of else as_of()
    conn = duckdb.connect(str(args.warehouse or warehouse_path()))
    try:
        stats = resolve_identities(conn, config, run_at)
        passed, details = cluster_alarm(
            conn, args.max_largest, args.max_jump_ratio, schema=config.output_schema
        )
    finally:
        conn.close()
    print(
        json.dumps(
            {"stats": stats.as_row(), "cluster_alarm": {"passed": passed, **details}}, default=str, indent=2
        )
    )
    return 0 if passed else 2


if __name__ == "__main__":
    sys.exit(main())
