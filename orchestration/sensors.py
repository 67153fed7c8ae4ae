"""Sensors: start a build when data files land, and keep a record of failed runs.

`new_data_files` scans CDP_DATA_DIR every minute. A file is known by (path, size, mtime); new or changed
files that have not been modified for CDP_SENSOR_SETTLE_SECONDS (default 30, so half-copied files wait)
start one run of their sources' ingestion assets and everything downstream (checks, dbt, serving). The
cursor holds the fingerprints already handled, and the run key is a hash of the new fingerprints, so a file
triggers exactly once even if a tick is retried. The loader skips content it has already loaded (SHA-256).
The collector's landing folder (`events/collect/`, a segment a minute) is not watched: the live lane
(orchestration/live.py) loads it every few minutes and rebuilds only what the time-bound programs need.

`record_run_failures`: Dagster's run status is the source of truth (UI, GraphQL); this sensor also appends
one JSON line per failed run to CDP_RUN_FAILURES_LOG (default run_failures.jsonl next to the warehouse), for
alerting and for `select * from read_json('run_failures.jsonl')`. Not a warehouse table: the daemon must
never wait for (or break) the warehouse's single-writer lock held by a running build.
"""

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from orchestration.run_clock import as_of_tag
from orchestration.schedules import WAREHOUSE_TAG, automation_default_status, run_partition_key, sen_all_job
from sen.collect.landing import SUBFOLDER as COLLECT_SUBFOLDER
from sen.contracts import load_contract
from sen.ingest.readers import accepted_file
from sen.settings import DEFAULT_SETTLE_SECONDS, Settings

__all__ = ["DEFAULT_SETTLE_SECONDS", "failures_log_path", "sensors", "settle_seconds"]


def settle_seconds() -> float:
    return Settings.from_env().sensor_settle_seconds


# Folders (relative to CDP_DATA_DIR) another lane owns: the collector's segments belong to the live lane.
LIVE_LANE_FOLDERS = (f"events/{COLLECT_SUBFOLDER}",)


def owned_by_live_lane(relative: str) -> bool:
    return any(relative == f or relative.startswith(f + "/") for f in LIVE_LANE_FOLDERS)


def scan_data_files(data_dir: Path, now: float | None = None, settle: float = 0.0) -> dict[str, str]:
    """Fingerprints "size:mtime_ns" of the settled input files, by path relative to data_dir (without the
    collector's landing folder, which the live lane loads)."""
    now = time.time() if now is None else now
    found: dict[str, str] = {}
    for source in load_contract().sources:
        folder = data_dir / source
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if owned_by_live_lane(path.relative_to(data_dir).as_posix()):
                continue
            try:
                if not accepted_file(path):
                    continue
                stat = path.stat()
            except OSError:  # vanished between listing and stat
                continue
            if now - stat.st_mtime >= settle:
                found[path.relative_to(data_dir).as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return found


def changed_files(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(p for p, fingerprint in current.items() if previous.get(p) != fingerprint)


def run_key_for(current: dict[str, str], changed: list[str]) -> str:
    digest = hashlib.sha256("\n".join(f"{p}={current[p]}" for p in changed).encode()).hexdigest()
    return f"files-{digest[:24]}"


@dg.sensor(
    name="new_data_files",
    job=sen_all_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus(automation_default_status().value),
    description="Ingest new or changed files in CDP_DATA_DIR, then rebuild everything downstream.",
)
def new_data_files(context: dg.SensorEvaluationContext):
    data_dir = Settings.from_env().data_dir
    if not data_dir.is_dir():
        return dg.SkipReason(f"CDP_DATA_DIR {data_dir} does not exist")
    previous = json.loads(context.cursor) if context.cursor else {}
    current = scan_data_files(data_dir, settle=settle_seconds())
    changed = changed_files(previous, current)
    # Deleted files leave the cursor, so a file put back later is looked at again.
    context.update_cursor(json.dumps(current, sort_keys=True))
    if not changed:
        return dg.SkipReason(f"no new or changed files in {data_dir}")
    sources = sorted({p.split("/", 1)[0] for p in changed})
    selection = dg.AssetSelection.assets(*[dg.AssetKey(["raw", s]) for s in sources]).downstream()
    graph = context.repository_def.asset_graph
    keys = selection.resolve(graph)
    checks = [k for k in graph.asset_check_keys if k.asset_key in keys]  # incl. the blocking raw checks
    requested_at = datetime.now(UTC)
    context.log.info(f"{len(changed)} new or changed file(s) in {', '.join(sources)}: {changed[:10]}")
    return dg.RunRequest(
        run_key=run_key_for(current, changed),
        asset_selection=sorted(keys, key=lambda k: k.path),
        asset_check_keys=sorted(checks, key=lambda k: (k.asset_key.path, k.name)),
        # The event-sized dbt models are daily-partitioned: the run takes the last complete day.
        partition_key=run_partition_key(context.repository_def, keys, requested_at),
        tags={
            **WAREHOUSE_TAG,
            **as_of_tag(requested_at),
            "sen/trigger": "new_data_files",
            "sen/sources": ",".join(sources)[:200],
        },
    )


def failures_log_path() -> Path:
    return Settings.from_env().run_failures_path


def failure_record(context: dg.RunFailureSensorContext) -> dict:
    run = context.dagster_run
    failed_steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    return {
        "run_id": run.run_id,
        "job_name": run.job_name,
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "message": (context.failure_event.message or "")[:2000],
        "failed_steps": failed_steps,
        "trigger": run.tags.get("sen/trigger") or run.tags.get("dagster/schedule_name") or "manual",
        "sources": run.tags.get("sen/sources"),
    }


@dg.run_failure_sensor(
    name="record_run_failures",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Append every failed run to run_failures.jsonl next to the warehouse (CDP_RUN_FAILURES_LOG).",
)
def record_run_failures(context: dg.RunFailureSensorContext) -> None:
    record = failure_record(context)
    path = failures_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:  # one short line per write: appends do not interleave
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    context.log.error(f"run {record['run_id']} of {record['job_name']} failed: {record['message'][:300]}")


sensors = [new_data_files, record_run_failures]
