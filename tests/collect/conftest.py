"""A real collector process on 127.0.0.1 and the real events ingestion, for the collector's tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
import pytest

from sen.config import DBT_PROJECT_DIR, REPO_ROOT
from sen.contracts import load_contract
from sen.ingest import load_source

WRITE_KEYS = {
    "web": "wk-web-test",
    "ios": "wk-ios-test",
    "android": "wk-android-test",
    "server": "wk-server-test",
}
WRITE_KEYS_ENV = ",".join(f"{source}={key}" for source, key in WRITE_KEYS.items())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Collector:
    data_dir: Path
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Collector:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sen.collect", "--port", str(self.port)],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the collector exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the collector did not answer /health within {timeout} s:\n{self.log_text()}")

    def stop(self) -> None:
        """A clean stop (SIGTERM): the open segment is synced and published."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def collector_factory(tmp_path):
    started: list[Collector] = []

    def make(**overrides: str) -> Collector:
        data_dir = tmp_path / "data"
        data_dir.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "CDP_DATA_DIR": str(data_dir),
            "CDP_COLLECT_WRITE_KEYS": WRITE_KEYS_ENV,
            "CDP_COLLECT_SEGMENT_MAX_SECONDS": "1",
            "CDP_COLLECT_MIN_FREE_BYTES": "0",
            **overrides,
        }
        collector = Collector(
            data_dir=data_dir, port=free_port(), env=env, log_path=tmp_path / "collector.log"
        )
        started.append(collector)
        return collector

    yield make
    for collector in started:
        collector.kill()


@pytest.fixture
def collector(collector_factory) -> Collector:
    return collector_factory().start()


def ingest(data_dir: Path, warehouse: Path):
    """The events ingestion, unchanged: every published segment file into raw.events."""
    conn = duckdb.connect(str(warehouse))
    try:
        result = load_source(conn, load_contract().sources["events"], data_dir)
        rows = conn.sql("select * from raw.events").to_arrow_table().to_pylist()
        quarantined = conn.execute("select reason, record from raw._quarantine").fetchall()
    finally:
        conn.close()
    return result, rows, quarantined


def run_dbt(warehouse: Path, root: Path, *select: str) -> None:
    """``dbt run --select ...`` on a test warehouse, in its own process as in production."""
    env = {**os.environ, "CDP_WAREHOUSE": str(warehouse), "CDP_AS_OF": "2030-01-01"}
    args = [str(Path(sys.executable).with_name("dbt")), "run", "--select", *select]
    args += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    args += ["--target-path", str(root / "target"), "--log-path", str(root / "logs")]
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
