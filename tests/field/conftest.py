"""The field suite: the whole pipeline on data the generator did not make, run as a user runs it.

Each scenario writes its data, runs `python -m orchestration.cli build` once in a subprocess (module-scoped
fixtures share it between the tests of the scenario) and asserts what the user sees: exit code, message,
marts. Heavy builds take the machine-wide lock that keeps heavy jobs from overlapping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from sen.config import REPO_ROOT


@dataclass
class Build:
    returncode: int
    output: str  # stdout and stderr together, as the user sees them in a terminal
    warehouse: Path

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.warehouse), read_only=True)


def run_build(
    workdir: Path, data_dir: Path, as_of: str, env: dict[str, str] | None = None, select: str | None = None
) -> Build:
    warehouse = workdir / "warehouse" / "sen.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "CDP_DATA_DIR": str(data_dir),
        "CDP_WAREHOUSE": str(warehouse),
        "CDP_SERVING": str(warehouse.with_name("serving.duckdb")),
        "CDP_AS_OF": as_of,
        **(env or {}),
    }
    full_env.pop("DAGSTER_HOME", None)
    command = [sys.executable, "-m", "orchestration.cli", "build"] + (["--select", select] if select else [])
    completed = subprocess.run(
        command, cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=900
    )
    return Build(completed.returncode, completed.stdout + completed.stderr, warehouse)


def require_success(build: Build) -> Build:
    if build.returncode != 0:
        pytest.fail(f"the build failed (exit {build.returncode}):\n{build.output[-8000:]}")
    return build
