"""The DbtProject of the code location, in the dbt target folder the run uses, and the per-run dbt folders.

The target folder holds the manifest the dbt assets are built from, the partial parse every dbt step starts
from, and the steps' own folders. The command line builds the project in a folder of its warehouse
(orchestration/dbt/target.py); `dagster dev` and tests use DBT_TARGET_PATH (dbt's own variable) if set, else
dbt_project/target.

Each command-line run parses into a folder of its own, ``<target>/runs/<UTC time>-<run id>``: its manifest,
its steps' logs and artifacts, its dbt output. Nothing another run does can rewrite them while it runs (two
runs parsing into one folder wrote one manifest.json at the same time). When its parse succeeds, the run
publishes that manifest and partial parse to ``<target>`` by atomic renames, so whoever reads the
target's manifest (the code location, the next run's partial parse) reads a complete one. The newest
CDP_DBT_RUNS_KEPT run folders stay (default 1: the last run's, for reading its dbt logs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from dagster_dbt import DbtProject

from sen.settings import DBT_PROJECT_DIR, Settings

DEFAULT_TARGET = DBT_PROJECT_DIR / "target"
RUNS_DIR = "runs"
# What a parse leaves that the next run and the code location read: published from the run's folder.
PUBLISHED_PARSE_FILES = ("manifest.json", "partial_parse.msgpack")


def build_dbt_project(target: Path | None = None) -> DbtProject:
    """The project reading and writing its dbt files in ``target`` (default: see the module docstring)."""
    target = target or Settings.from_env().dbt_target_path or DEFAULT_TARGET
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=target)


def new_run_dir(target: Path, run_id: str | None = None) -> Path:
    """A fresh dbt folder for one run under ``target``, seeded with the target's partial parse (so the
    run's `dbt parse` only re-reads what changed)."""
    run_id = run_id or uuid.uuid4().hex
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_dir = Path(target) / RUNS_DIR / f"{stamp}-{run_id[:8]}"
    run_dir.mkdir(parents=True)
    parse = Path(target) / "partial_parse.msgpack"
    if parse.exists():
        shutil.copyfile(parse, run_dir / parse.name)
    return run_dir


def publish_parse(run_dir: Path, target: Path) -> None:
    """Make the run's manifest and partial parse the target's, each by one atomic rename: a reader of the
    target's files gets the previous complete file or this one, never a half-written one."""
    for name in PUBLISHED_PARSE_FILES:
        source = Path(run_dir) / name
        if not source.exists():
            continue
        tmp = Path(target) / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
        shutil.copyfile(source, tmp)
        os.replace(tmp, Path(target) / name)


def prune_run_dirs(target: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` run folders under ``target``; returns the ones removed.

    Called by a run that holds the warehouse lock, so no other run of this warehouse is using them.
    """
    runs = Path(target) / RUNS_DIR
    if not runs.is_dir():
        return []
    folders = sorted((p for p in runs.iterdir() if p.is_dir()), key=lambda p: p.name)  # names start sortable
    removed = folders[: max(len(folders) - keep, 0)]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def parse_and_publish(
    target: Path, dbt: Path, extra_args: list[str] | None = None
) -> subprocess.CompletedProcess:
    """`dbt parse` into a scratch folder, then publish its manifest to ``target`` (see publish_parse): the
    code location of a `dagster dev` reloads while runs read ``target``, and they never see a manifest
    half-written."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".parse-", dir=target))
    try:
        parse = target / "partial_parse.msgpack"
        if parse.exists():
            shutil.copyfile(parse, scratch / parse.name)
        completed = subprocess.run(
            [str(dbt), "parse", "--quiet", "--target-path", str(scratch), *(extra_args or [])],
            cwd=DBT_PROJECT_DIR,
            env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            capture_output=True,
            text=True,
        )
        if completed.returncode == 0:
            publish_parse(scratch, target)
        return completed
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
