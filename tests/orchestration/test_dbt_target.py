"""The main job's dbt target folder: one per warehouse, so every dbt step of a run reuses the run's parse."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

from orchestration.cli import run_as_of
from orchestration.dbt.target import TARGETS_DIR, dbt_target_dir, remove_step_folders
from sen.settings import REPO_ROOT, Settings


def test_one_folder_per_warehouse(tmp_path):
    first = dbt_target_dir(tmp_path / "a" / "sen.duckdb")
    assert first == dbt_target_dir(tmp_path / "a" / ".." / "a" / "sen.duckdb")  # same file, same folder
    assert first != dbt_target_dir(tmp_path / "b" / "sen.duckdb")  # same name elsewhere: its own folder
    assert first.parent == TARGETS_DIR and first.name.startswith("sen-")


def test_only_the_step_folders_of_earlier_runs_are_removed(tmp_path):
    (tmp_path / "sen_dbt_models_2-3c75dbd-fce071d").mkdir()
    (tmp_path / "sen_dbt_models_2-3c75dbd-fce071d" / "dbt.log").write_text("log")
    (tmp_path / "sen_dbt_incremental-567f184-01e9f46").mkdir()
    (tmp_path / "compiled").mkdir()  # dbt's own output of the run's parse
    (tmp_path / "partial_parse.msgpack").write_bytes(b"parse")
    assert remove_step_folders(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compiled", "partial_parse.msgpack"]
    assert remove_step_folders(tmp_path / "missing") == 0


def test_the_run_pins_its_reference_time(monkeypatch, tmp_path):
    monkeypatch.setenv("CDP_AS_OF", "")  # unset; monkeypatch restores the session's value afterwards
    monkeypatch.setenv("CDP_DATA_DIR", str(tmp_path))  # a data folder that declares no as-of (dataset.yml)
    before = datetime.now(UTC).replace(microsecond=0)
    pinned = run_as_of(Settings.from_env())
    assert before <= pinned <= datetime.now(UTC)  # now, fixed once: the run's tag and dbt --vars carry it
    assert pinned.microsecond == 0 and pinned.tzinfo is not None
    assert os.environ["CDP_AS_OF"] == ""  # the environment is left alone
    monkeypatch.setenv("CDP_AS_OF", "2026-11-21T00:00:00")
    assert run_as_of(Settings.from_env()) == datetime(2026, 11, 21, tzinfo=UTC)


def test_the_dbt_project_reads_its_manifest_from_dbt_target_path(tmp_path):
    env = {**os.environ, "DBT_TARGET_PATH": str(tmp_path)}
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from orchestration.dbt.project import build_dbt_project; print(build_dbt_project().manifest_path)",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == str(tmp_path / "manifest.json")
