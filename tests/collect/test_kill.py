"""SIGKILL the collector while the Segment SDK sends a load; after a restart, every event the SDK saw acknowledged
is in the warehouse exactly once (raw.events through the unchanged ingestion, then the events staging model)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path

import duckdb
import segment.analytics as segment_analytics
from segment.analytics import request as segment_request

from sen.normalize import register_udfs
from tests.collect.conftest import WRITE_KEYS, ingest, run_dbt

N_EVENTS = 6000


class AckLog:
    """What the SDK saw acknowledged: the message ids of every batch its HTTP session got a 200 for."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: list[str] = []

    def hook(self, response, *args, **kwargs):
        if response.status_code == 200 and response.request.url.endswith("/v1/batch"):
            body = response.request.body
            if response.request.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            ids = [m["messageId"] for m in json.loads(body)["batch"]]
            with self.lock:
                self.acked.extend(ids)
        return response

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def _stage_events(warehouse: Path, root: Path) -> list[tuple[str, int]]:
    """Run the events staging model (dedup on messageId) on the test warehouse; (event_id, rows) pairs."""
    run_dbt(warehouse, root, "stg_tracking__events")
    conn = duckdb.connect(str(warehouse), read_only=True)
    register_udfs(conn)
    try:
        return conn.execute(
            "select event_id, count(*) from staging.stg_tracking__events group by 1"
        ).fetchall()
    finally:
        conn.close()


def test_sigkill_during_load_loses_no_acknowledged_event(collector_factory, tmp_path):
    collector = collector_factory().start()
    acks = AckLog()
    segment_request._session.hooks["response"].append(acks.hook)
    errors: list[Exception] = []
    client = segment_analytics.Client(
        write_key=WRITE_KEYS["server"],
        host=collector.url,
        gzip=True,
        upload_size=100,
        max_queue_size=N_EVENTS + 1,
        max_retries=10,
        on_error=lambda error, batch: errors.append(error),
    )
    sent: list[str] = []
    try:
        for i in range(N_EVENTS):
            _, message = client.track(
                user_id=f"kill-user-{i % 300}",
                event="Product Viewed",
                properties={"i": i, "sku": f"SKU-{i % 50}"},
            )
            sent.append(message["messageId"])
            if i == N_EVENTS // 3:
                # Kill mid-load, once some batches are acknowledged and others are on the wire or queued.
                deadline = time.monotonic() + 30
                while acks.count() < 500 and time.monotonic() < deadline:
                    time.sleep(0.005)
                acked_before_kill = set(acks.acked)
                collector.kill()
                killed_at = time.monotonic()
                collector.start()  # same port, same landing zone: recovery publishes the dead process's segment
                assert time.monotonic() - killed_at < 30
        client.flush()
        client.join()
    finally:
        segment_request._session.hooks["response"].remove(acks.hook)
    assert errors == []
    assert len(acked_before_kill) >= 500, "the kill came during the load, after acknowledgements"
    assert len(acked_before_kill) < N_EVENTS
    collector.stop()

    acked = set(acks.acked)
    assert acked == set(sent), "after the restart the SDK's retries got every event acknowledged"
    warehouse = tmp_path / "w.duckdb"
    result, rows, quarantined = ingest(collector.data_dir, warehouse)
    assert quarantined == [] and result.files_unreadable == {}
    raw_ids = [r["message_id"] for r in rows]
    assert acked <= set(raw_ids), "no acknowledged event is lost"
    # Events acknowledged before the kill were never resent: they are in raw exactly once already.
    assert all(raw_ids.count(m) == 1 for m in list(acked_before_kill)[:500])
    staged = dict(_stage_events(warehouse, tmp_path))
    assert set(staged) == acked
    assert set(staged.values()) == {1}, "exactly once after staging dedups retried messages on messageId"
