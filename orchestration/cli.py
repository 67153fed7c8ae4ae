"""Command line of the main job: ``python -m orchestration.cli build`` materializes every asset.

The dbt manifest is rebuilt first (``dbt parse``), so the graph always matches the models on disk. Every dbt
step of the run then starts from that parse instead of parsing the project again: the run fixes its reference
time (part of dbt's --vars, handed to the run as its `sen/as_of` tag) and uses a dbt target folder of its own
warehouse, which nothing else rewrites meanwhile (orchestration/dbt/target.py).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration.dbt.engine import dbt_target_args
from orchestration.dbt.target import dbt_target_dir, remove_step_folders
from orchestration.run_clock import DATASET_FILE, dataset_as_of
from sen.settings import DBT_PROJECT_DIR, Settings

# An as-of this long after the newest order or event leaves the "last N days" windows mostly empty.
STALE_AFTER = timedelta(days=7)


def run_as_of(settings: Settings) -> datetime:
    """The run's reference time: CDP_AS_OF, else the data folder's own as-of (its dataset.yml: the committed
    sample is as of 2026-11-21), else now (UTC, whole seconds), fixed once for every step.

    dbt receives it in --vars: a value that moved between steps would also make each dbt step parse the whole
    project again instead of reusing the run's parse.
    """
    return settings.as_of or dataset_as_of(settings.data_dir) or datetime.now(UTC).replace(microsecond=0)


def as_of_origin(settings: Settings) -> str:
    """Where the run's reference time came from, for the console."""
    if settings.as_of is not None:
        return "CDP_AS_OF"
    if dataset_as_of(settings.data_dir) is not None:
        return f"the data folder's own as-of ({settings.data_dir / DATASET_FILE}); set CDP_AS_OF to change it"
    return "now"


# Modules of the code location that do not read the dbt manifest: imported while `dbt parse` runs, on one core
# while dbt uses the other; only the dbt assets and the Definitions wait for the manifest.
MANIFEST_FREE_MODULES = (
    "dagster_dbt",
    "orchestration.assets.clv",
    "orchestration.assets.identity",
    "orchestration.assets.ingestion",
    "orchestration.assets.serving",
    "orchestration.assets.syncs",
    "orchestration.checks",
)


def start_dbt_parse(as_of: datetime, partition_key: str | None, target: Path) -> subprocess.Popen:
    from orchestration.dbt.partitions import dbt_vars, partition_window_vars

    dbt = Path(sys.executable).parent / "dbt"
    # The same --vars as the dbt steps of the run, so that they reuse this parse (partial parsing).
    dbt_run_vars = dbt_vars(as_of, partition_window_vars(partition_key) if partition_key else None)
    return subprocess.Popen(
        [
            str(dbt),
            "parse",
            "--quiet",
            "--vars",
            dbt_run_vars,
            "--target-path",
            str(target),
            *dbt_target_args(),
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )


def parse_dbt_project(as_of: datetime, partition_key: str | None, target: Path) -> int:
    """`dbt parse` into the run's target folder, importing the rest of the code location meanwhile."""
    parse = start_dbt_parse(as_of, partition_key, target)
    try:
        for module in MANIFEST_FREE_MODULES:
            importlib.import_module(module)
    finally:
        returncode = parse.wait()
    return returncode


def sync_dry_run(settings: Settings, send: bool) -> bool:
    """The syncs of a command-line build run dry unless --send (or CDP_SYNC_DRY_RUN=0) lets them send."""
    if send and settings.sync_dry_run:
        raise ValueError("--send contradicts CDP_SYNC_DRY_RUN=1: unset one of them")
    if send:
        return False
    return True if settings.sync_dry_run is None else settings.sync_dry_run


def run_config_for(defs: Any, job: Any, *, full_refresh: bool, dry_run: bool) -> dict:
    """Run config of the selected dbt blocks (--full-refresh) and sync assets (dry run or not)."""
    from orchestration.assets.syncs import KEY_PREFIX
    from orchestration.dbt.assets import DBT_BLOCKS

    selected = job.asset_layer.selected_asset_keys
    ops: dict[str, dict] = {}
    for assets_def in defs.assets or []:
        if not hasattr(assets_def, "op") or not set(assets_def.keys) & selected:
            continue
        if assets_def.op.name in DBT_BLOCKS and full_refresh:
            ops[assets_def.op.name] = {"config": {"full_refresh": True}}
        elif all(key.path[0] == KEY_PREFIX for key in assets_def.keys):
            ops[assets_def.op.name] = {"config": {"dry_run": dry_run}}
    return {"ops": ops} if ops else {}


def build(selection: str | None = None, *, full_refresh: bool = False, send: bool = False) -> int:
    from orchestration.dbt.partitions import main_run_partition_key, record_first_day
    from sen.segments.compile import main as compile_segments

    settings = Settings.from_env()
    dry_run = sync_dry_run(settings, send)
    # The event-sized dbt models are daily-partitioned: a run processes the last complete day before the
    # reference time and everything loaded since the last run (docs/incremental.md).
    as_of = run_as_of(settings)
    print(
        f"Building as of {as_of.isoformat()} ({as_of_origin(settings)}); data: {settings.data_dir}",
        flush=True,
    )
    if settings.partitions_start is None:
        # A first build on history (a backtest, an old export): the partitions reach back to the run's day;
        # the ingestion then moves them back to the first day of the data.
        record_first_day((as_of.astimezone(UTC) - timedelta(days=1)).date(), settings)
    run_partition = main_run_partition_key(as_of)
    # Segment YAML edited since the last compile becomes dbt models before dbt parses the project.
    if compile_segments([]) != 0:
        return 2
    # The run's dbt folder: the Definitions read the manifest there, each dbt step copies the partial parse
    # from there and writes its logs under it. An explicit DBT_TARGET_PATH wins (relative to the dbt project,
    # as dbt reads it), and is not cleaned: other runs may be using it.
    target = settings.dbt_target_path
    if target is None:
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
        target = dbt_target_dir(settings.warehouse)
        remove_step_folders(target)
    returncode = parse_dbt_project(as_of, run_partition, target)
    if returncode != 0:
        print(f"dbt parse failed (exit code {returncode}); its errors are above.", file=sys.stderr)
        return 2
    import dagster as dg

    from orchestration.cli_log import concise_console
    from orchestration.definitions import build_definitions
    from orchestration.run_clock import as_of_tag

    defs = build_definitions(target)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    if selection:
        job = job.get_subset(
            asset_selection=dg.AssetSelection.from_coercible(selection).resolve(defs.resolve_asset_graph())
        )
    plan = None
    if settings.engine != "duckdb":
        from orchestration.engine_support import engine_plan

        plan = engine_plan(defs, settings.engine)
        selected = set(job.asset_layer.selected_asset_keys) & plan.runnable
        job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=selected)
    job = job.with_logger_defs({"console": concise_console})  # one line per step, not Dagster's DEBUG stream
    partition_key = run_partition if job.partitions_def is not None else None
    started = time.perf_counter()
    # dbt's own output (every model and test) goes to a file; the console keeps one line per step.
    dbt_output = Path(target) / "dbt_output.log"
    dbt_output.parent.mkdir(parents=True, exist_ok=True)
    with open(dbt_output, "w", encoding="utf-8") as output, redirect_stdout(output):
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            # Dagster uses a job's own loggers only when the run config names them.
            run_config={
                **run_config_for(defs, job, full_refresh=full_refresh, dry_run=dry_run),
                "loggers": {"console": {}},
            },
            tags=as_of_tag(as_of),  # the run clock's reference time, unless CDP_AS_OF is set (then equal)
            raise_on_error=False,
        )
    elapsed = time.perf_counter() - started
    if plan is None:
        print_summary(settings, as_of, elapsed, result.success, dry_run, ingestion_counts(result))
    else:
        print(
            f"\n{'Built' if result.success else 'FAILED:'} on {settings.engine} in {elapsed:.1f} s: "
            f"{len(job.asset_layer.selected_asset_keys)} asset(s); tables in the Spark catalog under "
            f"{settings.spark_warehouse_path}"
        )
    print(f"dbt output: {dbt_output}")
    for step, reason in step_failures(result):  # last, where a user reads first: what failed and why
        print(f"FAILED {step}: {reason}", file=sys.stderr)
    if plan is not None and plan.unsupported:
        from orchestration.engine_support import unsupported_message

        print(f"INCOMPLETE: {unsupported_message(plan, settings.engine)}", file=sys.stderr)
        return 1
    return 0 if result.success else 1


def step_failures(result: Any) -> list[tuple[str, str]]:
    """Each failed step with its reason (an asset's Failure description, else the error's message)."""
    failures = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        data = event.step_failure_data
        user = getattr(data, "user_failure_data", None)
        reason = (user.description if user is not None else None) or (
            data.error.message if data.error else ""
        )
        failures.append((event.step_key or "?", reason.strip()))
    return failures


def ingestion_counts(result: Any) -> dict[str, dict[str, int]]:
    """Rows loaded and quarantined per source in this run (the ingestion assets' metadata)."""
    counts: dict[str, dict[str, int]] = {}
    for event in result.get_asset_materialization_events():
        key = event.asset_key
        if key is None or len(key.path) != 2 or key.path[0] != "raw":
            continue
        metadata = event.materialization.metadata
        if "rows_quarantined" not in metadata:
            continue
        counts[key.path[1]] = {
            name: int(metadata[name].value)
            for name in ("rows_in", "rows_loaded", "rows_quarantined")
            if name in metadata
        }
    return counts


def newest_data(conn: Any) -> datetime | None:
    """The newest order or event at or before the as-of (marts.orders, marts.person_events), naive UTC."""
    newest = None
    for table, column in (("marts.orders", "ordered_at"), ("marts.person_events", "occurred_at")):
        try:
            value = conn.execute(f"select max({column}) from {table}").fetchone()[0]
        except Exception:  # noqa: BLE001 - a mart a selection did not build
            continue
        if value is not None and (newest is None or value > newest):
            newest = value
    return newest


def print_summary(
    settings: Settings,
    as_of: datetime,
    elapsed: float,
    success: bool,
    dry_run: bool,
    ingested: dict[str, dict[str, int]] | None = None,
) -> None:
    import duckdb

    path = settings.warehouse
    print(
        f"\n{'Built' if success else 'FAILED:'} warehouse {path} in {elapsed:.1f} s "
        f"(data: {settings.data_dir}, as of {as_of.isoformat()}, {as_of_origin(settings)})"
    )
    if ingested:
        print("\nLoaded this run (rows read / loaded / quarantined to raw._quarantine):")
        for source, n in sorted(ingested.items()):
            flag = "  <- see raw._quarantine" if n.get("rows_quarantined") else ""
            print(
                f"  raw.{source:<38} {n.get('rows_in', 0):>10,} {n.get('rows_loaded', 0):>10,} "
                f"{n.get('rows_quarantined', 0):>8,}{flag}"
            )
        total = sum(n.get("rows_quarantined", 0) for n in ingested.values())
        print(f"  quarantined in total: {total:,} row(s)")
    conn = duckdb.connect(str(path), read_only=True)
    try:
        newest = newest_data(conn)
        if newest is not None:
            gap = as_of.astimezone(UTC).replace(tzinfo=None) - newest
            if gap > STALE_AFTER:
                print(
                    f"\nWARNING: the as-of {as_of.isoformat()} is {gap.days} days after the newest order or event "
                    f"({newest.isoformat(sep=' ')} UTC): 'last N days' windows, carts and audiences are mostly empty. "
                    f"Set CDP_AS_OF to the end of the data (e.g. CDP_AS_OF={(newest + timedelta(days=1)).date()})."
                )
        rows = conn.execute(
            """select table_schema, table_name from information_schema.tables
               where table_schema in ('marts', 'audiences') order by 1, 2"""
        ).fetchall()
        for schema, table in rows:
            count = conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            print(f"  {schema}.{table:<40} {count:>10,} rows")
    finally:
        conn.close()
    serving = settings.serving_path
    if dry_run:
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
        from orchestration.dbt.rebuild import rebuild_event_models

        try:
            settings = Settings.from_env()
            rebuild_event_models(args.batches, as_of=run_as_of(settings), warehouse=settings.warehouse)
        except (RuntimeError, ValueError) as error:
            print(f"rebuild-events: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "build":
        try:
            return build(args.select, full_refresh=args.full_refresh, send=args.send)
        except ValueError as error:  # a bad setting, named in the message
            print(f"build: {error}", file=sys.stderr)
            return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
