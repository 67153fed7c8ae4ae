"""Command line of the main job: ``python -m orchestration.cli build`` materializes every asset.

The dbt manifest is rebuilt first (``dbt parse``), so the graph always matches the models on disk. Every dbt
step of the run then starts from that parse instead of parsing the project again: the run pins its reference
time (part of dbt's --vars) and uses a dbt target folder of its own warehouse, which nothing else rewrites
meanwhile (orchestration/dbt_target.py).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

from orchestration.dbt_target import dbt_target_dir, remove_step_folders
from sen import config


def pin_as_of() -> None:
    """Fix the run's reference time when CDP_AS_OF is unset, so every step sees the same "now".

    dbt receives it in --vars: a value that moved between steps would also make each dbt step parse the whole
    project again instead of reusing the run's parse.
    """
    if not os.environ.get("CDP_AS_OF", "").strip():
        os.environ["CDP_AS_OF"] = config.as_of().isoformat()


# Modules of the code location that do not read the dbt manifest: imported while `dbt parse` runs (about 6 s
# of CPU on one core while dbt uses the other); only the dbt assets and the Definitions wait for the manifest.
MANIFEST_FREE_MODULES = (
    "dagster_dbt",
    "orchestration.assets.clv",
    "orchestration.assets.identity",
    "orchestration.assets.ingestion",
    "orchestration.checks",
    "orchestration.serving",
    "reverse_etl.dagster_assets",
)


def start_dbt_parse(partition_key: str | None) -> subprocess.Popen:
    from orchestration.partitions import dbt_vars, partition_window_vars

    dbt = Path(sys.executable).parent / "dbt"
    # The same --vars as the dbt steps of the run, so that they reuse this parse (partial parsing).
    dbt_run_vars = dbt_vars(partition_window_vars(partition_key) if partition_key else None)
    return subprocess.Popen(
        [str(dbt), "parse", "--quiet", "--vars", dbt_run_vars],
        cwd=config.DBT_PROJECT_DIR,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )


def parse_dbt_project(partition_key: str | None) -> int:
    """`dbt parse` into the run's target folder, importing the rest of the code location meanwhile."""
    parse = start_dbt_parse(partition_key)
    try:
        for module in MANIFEST_FREE_MODULES:
            importlib.import_module(module)
    finally:
        returncode = parse.wait()
    return returncode


def build(selection: str | None = None) -> int:
    from orchestration.partitions import main_run_partition_key
    from sen.segments.compile import main as compile_segments

    # The event-sized dbt models are daily-partitioned: a run processes the last complete day before CDP_AS_OF
    # and everything loaded since the last run (docs/incremental.md).
    pin_as_of()
    run_partition = main_run_partition_key()
    # Segment YAML edited since the last compile becomes dbt models before dbt parses the project.
    if compile_segments([]) != 0:
        return 2
    # Set before the Definitions load: DbtProject reads its manifest there, dagster-dbt copies the partial
    # parse from there and writes each step's logs under it. An explicit DBT_TARGET_PATH wins (relative to
    # the dbt project, as dbt reads it), and is not cleaned: other runs may be using it.
    explicit = os.environ.get("DBT_TARGET_PATH")
    if explicit:
        target = config.DBT_PROJECT_DIR / explicit
    else:
        target = dbt_target_dir(config.warehouse_path())
        remove_step_folders(target)
    os.environ["DBT_TARGET_PATH"] = str(target)
    returncode = parse_dbt_project(run_partition)
    if returncode != 0:
        print(f"dbt parse failed (exit code {returncode}); its errors are above.", file=sys.stderr)
        return 2
    import dagster as dg

    from orchestration.definitions import defs

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = defs.get_implicit_global_asset_job_def()
    if selection:
        job = job.get_subset(
            asset_selection=dg.AssetSelection.from_coercible(selection).resolve(defs.resolve_asset_graph())
        )
    partition_key = run_partition if job.partitions_def is not None else None
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, partition_key=partition_key, raise_on_error=False)
    elapsed = time.perf_counter() - started
    print_summary(elapsed, result.success)
    return 0 if result.success else 1


def print_summary(elapsed: float, success: bool) -> None:
    import duckdb

    path = config.warehouse_path()
    print(
        f"\n{'Built' if success else 'FAILED:'} warehouse {path} in {elapsed:.1f} s "
        f"(data: {config.data_dir()}, as of {config.as_of().isoformat()})"
    )
    conn = duckdb.connect(str(path), read_only=True)
    try:
        rows = conn.execute(
            """select table_schema, table_name from information_schema.tables
               where table_schema in ('marts', 'audiences') order by 1, 2"""
        ).fetchall()
        for schema, table in rows:
            count = conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            print(f"  {schema}.{table:<40} {count:>10,} rows")
    finally:
        conn.close()
    from sen.serving import serving_path

    serving = serving_path()
    if os.environ.get("CDP_SYNC_DRY_RUN", "") in ("1", "true", "yes"):
        print(
            "\nSyncs ran dry (planned diffs in sync.sync_runs); pass --send with destination credentials to send."
        )
    print(f"\nMarts: {path} (schemas marts, audiences); BI tools read the published copy {serving}")
    print(f"Open it: duckdb -readonly {serving}   |   UI: make dev (dagster dev)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="materialize every asset (or a selection) into the warehouse")
    build_cmd.add_argument("--select", help="Dagster asset selection, e.g. 'key:raw/*' or 'group:marts'")
    build_cmd.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental dbt models from raw (same as CDP_FULL_REFRESH=1)",
    )
    build_cmd.add_argument(
        "--send",
        action="store_true",
        help="let the syncs send to their destinations (needs their base URLs and tokens in the environment); "
        "without it the syncs run dry: the planned diff is recorded in sync.sync_runs and nothing is sent",
    )
    rebuild_cmd = sub.add_parser(
        "rebuild-events",
        help="rebuild the event-sized dbt models from raw in load-time batches (a full refresh that fits in "
        "memory and disk on a large history; docs/incremental.md)",
    )
    rebuild_cmd.add_argument(
        "--batches", type=int, default=5, help="how many batches of loads (default 5; 1 = one full refresh)"
    )
    from sen.identity import explain

    explain.add_arguments(sub.add_parser("explain-person", help=explain.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    if args.command == "explain-person":
        return explain.run(args)
    if args.command == "rebuild-events":
        from orchestration.rebuild import rebuild_event_models

        pin_as_of()
        try:
            rebuild_event_models(args.batches)
        except (RuntimeError, ValueError) as error:
            print(f"rebuild-events: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "build":
        if args.full_refresh:
            os.environ["CDP_FULL_REFRESH"] = "1"
        if args.send:
            os.environ["CDP_SYNC_DRY_RUN"] = "0"
        else:
            os.environ.setdefault("CDP_SYNC_DRY_RUN", "1")
        return build(args.select)
    return 2


if __name__ == "__main__":
    sys.exit(main())
