"""Command line of the main job: ``python -m orchestration.cli build`` materializes every asset.

The dbt manifest is rebuilt first (``dbt parse``), so the graph always matches the models on disk. Every dbt
step of the run then starts from that parse instead of parsing the project again: the run fixes its reference
time (part of dbt's --vars, handed to the run as its `sen/as_of` tag) and a dbt folder of its own, which
nothing else rewrites meanwhile (orchestration/dbt/project.py).

A build is the warehouse's one writer: it holds the warehouse lock for its whole run and waits for readers
of the main file (sen/warehouse_lock.py, docs/serving.md "One writer at a time").
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration.dbt.engine import dbt_target_args
from orchestration.dbt.project import new_run_dir, prune_run_dirs, publish_parse
from orchestration.dbt.target import dbt_target_dir, remove_step_folders
from orchestration.run_clock import DATASET_FILE, dataset_as_of, newest_data, stale_as_of_warning
from sen.settings import DBT_PROJECT_DIR, Settings
from sen.warehouse_lock import WarehouseBusy, wait_for_readers, warehouse_lock


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


def start_dbt_parse(as_of: datetime, target: Path, *, live: bool = False) -> subprocess.Popen:
    from orchestration.dbt.partitions import dbt_vars, run_window_vars

    dbt = Path(sys.executable).parent / "dbt"
    # The same --vars as the dbt steps of the run, so that they reuse this parse (partial parsing).
    dbt_run_vars = dbt_vars(as_of, run_window_vars(as_of, live=live))
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


def parse_dbt_project(as_of: datetime, target: Path, *, live: bool = False) -> int:
    """`dbt parse` into the run's target folder, importing the rest of the code location meanwhile."""
    parse = start_dbt_parse(as_of, target, live=live)
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


# Exit code of a build that found the warehouse taken by another build (or kept open by a reader) longer than
# it would wait: "try again later" (sysexits' EX_TEMPFAIL), distinct from a failed build (1) or bad setting (2).
EXIT_WAREHOUSE_BUSY = 75


def build(selection: str | None = None, *, full_refresh: bool = False, send: bool = False) -> int:
    """One build of the warehouse, holding its writer lock from the first file it writes to the last
    (sen/warehouse_lock.py): a second build waits CDP_WAREHOUSE_LOCK_WAIT seconds, then exits with
    EXIT_WAREHOUSE_BUSY naming the running one, which it never disturbs."""
    settings = Settings.from_env()
    dry_run = sync_dry_run(settings, send)
    run_id = uuid.uuid4().hex
    try:
        with warehouse_lock(
            settings.warehouse,
            run_id=run_id,
            command="python -m orchestration.cli build" + (f" --select {selection}" if selection else ""),
            wait=settings.warehouse_lock_wait,
        ):
            # A reader of the main file (a BI tool pointed at it, a notebook) makes DuckDB refuse the build's
            # writes: wait for it with backoff, announced, instead of failing the first step that writes.
            wait_for_readers(settings.warehouse, settings.warehouse_reader_wait)
            return build_locked(settings, run_id, selection, full_refresh=full_refresh, dry_run=dry_run)
    except WarehouseBusy as busy:
        print(f"build: {busy}", file=sys.stderr)
        return EXIT_WAREHOUSE_BUSY


def build_locked(
    settings: Settings, run_id: str, selection: str | None, *, full_refresh: bool, dry_run: bool
) -> int:
    from sen.segments.compile import main as compile_segments

    # The event-sized dbt models process everything loaded since their last run and recompute the last
    # complete day before the reference time (docs/incremental.md).
    as_of = run_as_of(settings)
    print(
        f"Building as of {as_of.isoformat()} ({as_of_origin(settings)}); data: {settings.data_dir}",
        flush=True,
    )
    # Segment YAML edited since the last compile becomes dbt models before dbt parses the project.
    if compile_segments([]) != 0:
        return 2
    # The run's dbt folder (orchestration/dbt/project.py): its own manifest, which the Definitions read, the
    # partial parse each dbt step copies, the steps' logs. It lies under the warehouse's target folder, which
    # only a holder of this warehouse's lock writes. The parse is then published to the target folder (an
    # explicit DBT_TARGET_PATH, relative to the dbt project as dbt reads it, else the warehouse's folder).
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    warehouse_target = dbt_target_dir(settings.warehouse)
    remove_step_folders(warehouse_target)  # folders of the layout before per-run folders
    published = settings.dbt_target_path or warehouse_target
    published.mkdir(parents=True, exist_ok=True)
    run_dir = new_run_dir(warehouse_target, run_id)
    # Seeded from the published parse when DBT_TARGET_PATH names another folder.
    if published != warehouse_target and (published / "partial_parse.msgpack").exists():
        shutil.copyfile(published / "partial_parse.msgpack", run_dir / "partial_parse.msgpack")
    try:
        return run_in(settings, run_id, run_dir, published, selection, as_of, full_refresh, dry_run)
    finally:
        prune_run_dirs(warehouse_target, keep=settings.dbt_runs_kept)


def run_in(
    settings: Settings,
    run_id: str,
    run_dir: Path,
    published: Path,
    selection: str | None,
    as_of: datetime,
    full_refresh: bool,
    dry_run: bool,
) -> int:
    returncode = parse_dbt_project(as_of, run_dir)
    if returncode != 0:
        print(f"dbt parse failed (exit code {returncode}); its errors are above.", file=sys.stderr)
        return 2
    publish_parse(run_dir, published)
    import dagster as dg

    from orchestration.cli_log import concise_console
    from orchestration.definitions import build_definitions
    from orchestration.run_clock import as_of_tag

    defs = build_definitions(run_dir)
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
        job = defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_selection=selected, asset_check_selection=plan.checks
        )
    job = job.with_logger_defs({"console": concise_console})  # one line per step, not Dagster's DEBUG stream
    started = time.perf_counter()
    # dbt's own output (every model and test) goes to a file; the console keeps one line per step.
    dbt_output = run_dir / "dbt_output.log"
    with open(dbt_output, "w", encoding="utf-8") as output, redirect_stdout(output):
        result = job.execute_in_process(
            instance=instance,
            # Dagster uses a job's own loggers only when the run config names them.
            run_config={
                **run_config_for(defs, job, full_refresh=full_refresh, dry_run=dry_run),
                "loggers": {"console": {}},
            },
            tags=as_of_tag(as_of),  # the run clock's reference time, unless CDP_AS_OF is set (then equal)
            run_id=run_id,  # the id the warehouse lock names while this run holds it
            raise_on_error=False,
        )
    elapsed = time.perf_counter() - started
    if plan is not None:  # the Spark steps' worker and its JVM (sen/engines/spark_steps.py)
        from sen.engines.spark_steps import release_worker

        release_worker()
    if plan is None:
        print_summary(settings, as_of, elapsed, result.success, dry_run, ingestion_counts(result))
    else:
        print(
            f"\n{'Built' if result.success else 'FAILED:'} on {settings.engine} in {elapsed:.1f} s: "
            f"{len(job.asset_layer.selected_asset_keys)} asset(s); tables in the Spark catalog under "
            f"{settings.spark_warehouse_path}"
        )
    kept = "" if settings.dbt_runs_kept else " (removed at exit: CDP_DBT_RUNS_KEPT=0)"
    print(f"dbt output: {dbt_output}{kept}")
    for step, reason in step_failures(result):  # last, where a user reads first: what failed and why
        print(f"FAILED {step}: {reason}", file=sys.stderr)
    if plan is not None:
        from orchestration.engine_support import checks_message, syncs_message, unsupported_message

        if plan.checks_not_run:
            print(f"CHECKS NOT RUN: {checks_message(plan, settings.engine)}", file=sys.stderr)
        if plan.syncs_not_run:  # known and said: the build of the tables is complete without them
            print(f"SYNCS NOT RUN: {syncs_message(plan, settings.engine)}", file=sys.stderr)
        if plan.missing:
            print(f"INCOMPLETE: {unsupported_message(plan, settings.engine)}", file=sys.stderr)
            return 1
        # Dagster counts a run whose steps were skipped (an upstream output not produced) as a success.
        built = {e.asset_key for e in result.get_asset_materialization_events()}
        not_built = sorted(k.to_user_string() for k in set(job.asset_layer.selected_asset_keys) - built)
        if not_built:
            print(
                f"NOT BUILT on {settings.engine}: {len(not_built)} selected asset(s) were skipped: "
                + ", ".join(not_built[:30])
                + (" ..." if len(not_built) > 30 else ""),
                file=sys.stderr,
            )
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
        warning = stale_as_of_warning(as_of, newest_data(conn))
        if warning:
            print(f"\nWARNING: {warning}")
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
            with warehouse_lock(
                settings.warehouse,
                run_id=uuid.uuid4().hex,
                command="python -m orchestration.cli rebuild-events",
                wait=settings.warehouse_lock_wait,
            ):
                wait_for_readers(settings.warehouse, settings.warehouse_reader_wait)
                rebuild_event_models(args.batches, as_of=run_as_of(settings), warehouse=settings.warehouse)
        except WarehouseBusy as busy:
            print(f"rebuild-events: {busy}", file=sys.stderr)
            return EXIT_WAREHOUSE_BUSY
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
