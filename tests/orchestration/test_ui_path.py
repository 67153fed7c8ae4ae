"""The UI path from a fresh clone: the Dagster CLI works from a plain shell (no activated venv, so no `dbt` on
PATH) and without `make parse` having run (no manifest yet)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from sen.settings import REPO_ROOT

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def bare_env(tmp_path: Path) -> dict[str, str]:
    # What a new user's shell has: no venv on PATH, nothing of ours set. The dbt target folder is new and
    # empty, as in a fresh clone.
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "CDP_WAREHOUSE": str(tmp_path / "wh" / "sen.duckdb"),
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    for name in ("HOME", "DAGSTER_HOME"):
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_definitions_validate_from_a_plain_shell_without_a_manifest(tmp_path):
    env = bare_env(tmp_path)
    assert not (Path(env["DBT_TARGET_PATH"]) / "manifest.json").exists()
    done = run([str(BIN / "dagster"), "definitions", "validate", "-m", "orchestration.definitions"], env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (Path(env["DBT_TARGET_PATH"]) / "manifest.json").exists()


def test_asset_materialize_from_a_plain_shell(tmp_path):
    env = bare_env(tmp_path)
    done = run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "orchestration.definitions",
            "--select",
            "raw/stores",
        ],
        env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with duckdb.connect(env["CDP_WAREHOUSE"], read_only=True) as conn:
        assert conn.execute("select count(*) from raw.stores").fetchone()[0] > 0
