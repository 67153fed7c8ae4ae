"""Issue 18, case 6: a sync killed (SIGKILL) after the destination acknowledged a batch and before the
acknowledgement was committed, then a change in the audience, then a rerun: the destination ends with
exactly the audience. Before the in-flight record (reverse_etl/in_flight.py) a person added that way and
then gone from the audience stayed in the destination for good."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from reverse_etl.config import parse_sync
from reverse_etl.engine import run_sync
from reverse_etl.testing.standins import MetaStandin
from tests.reverse_etl.retl_helpers import FAST_RETRY, make_audience

REPO = Path(__file__).resolve().parents[2]
TOKEN = "meta-SECRET-reliability-token"
AUDIENCE = "6100000000009"
# the child dies inside the commit of the first acknowledged batch of `group`: the destination applied it,
# the warehouse never recorded it
CHILD = """
import json, os, signal, sys
from reverse_etl.config import parse_sync
from reverse_etl.engine import SyncHooks, run_sync

def die(group, index):
    if group == sys.argv[3]:
        os.kill(os.getpid(), signal.SIGKILL)

run_sync(sys.argv[1], parse_sync(json.load(open(sys.argv[2])), source="child"), hooks=SyncHooks(before_commit=die))
"""


@pytest.fixture
def meta(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetaStandin]:
    monkeypatch.setenv("META_TOKEN", TOKEN)
    with MetaStandin(token=TOKEN, audience_ids={AUDIENCE}) as server:
        yield server  # type: ignore[misc]


def sync_data(meta: MetaStandin) -> dict:
    return {
        "name": "meta_crash_window",
        "model": "audience_test",
        "primary_key": "person_id",
        "mode": "add_remove",
        "schedule": "0 3 * * *",
        "mapping": {"EMAIL": "email"},
        "destination": {
            "type": "meta_custom_audiences",
            "audience_id": AUDIENCE,
            "token_env": "META_TOKEN",
            "base_url": meta.base_url,
            "batch_size": 10,
            "max_in_flight": 1,
            "retry": dict(FAST_RETRY),
            "timeout_s": 5.0,
        },
    }


def killed_between_ack_and_commit(db: Path, data: dict, group: str, tmp_path: Path) -> None:
    spec = tmp_path / "sync.json"
    spec.write_text(json.dumps(data))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), str(spec), group],
        cwd=REPO,
        env={**os.environ, "META_TOKEN": TOKEN},
        timeout=120,
        capture_output=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


def audience_hashes(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute("SELECT email FROM audience_test").fetchall()
    return {hashlib.sha256(e.strip().lower().encode()).hexdigest() for (e,) in rows}


def rerun(conn: duckdb.DuckDBPyConnection, data: dict):
    return run_sync(conn, parse_sync(data, source="<reliability>"))


def test_added_then_left_during_crash_window_is_removed(tmp_path: Path, meta: MetaStandin) -> None:
    db = tmp_path / "wh.duckdb"
    data = sync_data(meta)
    with duckdb.connect(str(db)) as conn:
        make_audience(conn, 20)
        assert rerun(conn, data).status == "success"
        make_audience(conn, 30)  # ten newcomers p000020..p000029
    killed_between_ack_and_commit(db, data, "add", tmp_path)
    with duckdb.connect(str(db)) as conn:
        assert audience_hashes(conn) <= meta.members("EMAIL")  # Meta took the newcomers
        # not committed: state still knows only the first 20
        assert conn.execute('SELECT count(*) FROM sync."state__meta_crash_window"').fetchone()[0] == 20
        left = hashlib.sha256(b"user.25@example.com").hexdigest()
        conn.execute("DELETE FROM audience_test WHERE person_id = 'p000025'")  # leaves the audience
        result = rerun(conn, data)
        assert result.status == "success" and result.removed == 1
        assert left not in meta.members("EMAIL")
        assert meta.members("EMAIL") == audience_hashes(conn)
        # and the run after that finds nothing to do: state is exact again
        again = rerun(conn, data)
        assert (again.added, again.changed, again.removed, again.requests) == (0, 0, 0, 0)
        assert (
            conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'in_flight__%'"
            ).fetchone()[0]
            == 0
        )


def test_removed_then_back_during_crash_window_is_added_again(tmp_path: Path, meta: MetaStandin) -> None:
    db = tmp_path / "wh.duckdb"
    data = sync_data(meta)
    with duckdb.connect(str(db)) as conn:
        make_audience(conn, 20)
        assert rerun(conn, data).status == "success"
        conn.execute("DELETE FROM audience_test WHERE person_id IN ('p000003', 'p000004')")
    killed_between_ack_and_commit(db, data, "remove", tmp_path)
    back = hashlib.sha256(b"user.3@example.com").hexdigest()
    assert back not in meta.members("EMAIL")  # Meta removed them; state still lists both
    with duckdb.connect(str(db)) as conn:
        make_audience(conn, 20)  # both are back before the rerun
        result = rerun(conn, data)
        assert result.status == "success"
        assert meta.members("EMAIL") == audience_hashes(conn)


def test_crash_before_any_answer_then_left(tmp_path: Path, meta: MetaStandin) -> None:
    """The same window seen from the destination: the request applied, the process killed before its
    answer arrived (the stand-in kills it while holding the response)."""
    from reverse_etl.testing.server import Fault

    db = tmp_path / "wh.duckdb"
    data = sync_data(meta)
    with duckdb.connect(str(db)) as conn:
        make_audience(conn, 10)
    spec = tmp_path / "sync.json"
    spec.write_text(json.dumps(data))
    holder: dict[str, int] = {}

    def kill(_request) -> None:
        while "pid" not in holder:
            time.sleep(0.01)
        os.kill(holder["pid"], signal.SIGKILL)

    meta.inject(Fault.hook(kill))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(spec), "none"],
        cwd=REPO,
        env={**os.environ, "META_TOKEN": TOKEN},
    )
    holder["pid"] = proc.pid
    assert proc.wait(timeout=120) == -signal.SIGKILL
    with duckdb.connect(str(db)) as conn:
        assert len(meta.members("EMAIL")) == 10
        conn.execute("DELETE FROM audience_test WHERE person_id >= 'p000005'")
        assert rerun(conn, data).status == "success"
        assert meta.members("EMAIL") == audience_hashes(conn)
