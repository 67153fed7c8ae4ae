"""Each answer of the collector, in process (Starlette's test client runs the app with its writer and landing)."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sen.collect.app import create_app
from sen.collect.events import Stamp, prepare_event
from sen.collect.landing import SUBFOLDER
from sen.collect.settings import CollectSettings, CollectSettingsError, parse_write_keys

KEY = "wk-web-answers"


def settings(tmp_path: Path, **overrides) -> CollectSettings:
    values = {"segment_max_seconds": 3600, "min_free_bytes": 0, **overrides}
    return CollectSettings(
        write_keys={KEY: "web", "wk-server-answers": "server"}, landing_dir=tmp_path / "events", **values
    )


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(settings(tmp_path))) as test_client:
        yield test_client


def landed(tmp_path: Path) -> list[dict]:
    """Every line in the landing zone, open segments included (the writer has fsynced them)."""
    lines = []
    for path in sorted((tmp_path / "events" / SUBFOLDER).rglob("*")):
        if path.is_file():
            lines += [json.loads(line) for line in path.read_text().splitlines() if line]
    return lines


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


EVENT = {"userId": "u-1", "event": "Order Completed", "properties": {"revenue": 5}}


def test_track_with_basic_auth_is_stored_with_received_at(client, tmp_path):
    response = client.post("/v1/track", json=EVENT, headers=basic(KEY))
    assert response.status_code == 200 and response.json() == {"success": True}
    [event] = landed(tmp_path)
    assert event["type"] == "track" and event["userId"] == "u-1" and event["properties"] == {"revenue": 5}
    assert event["senSource"] == "web" and event["messageId"]
    assert abs(datetime.fromisoformat(event["receivedAt"]) - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize("how", ["basic", "header", "body", "batch_event"])
def test_write_key_is_read_from_each_place_and_never_stored(client, tmp_path, how):
    body: dict = {"batch": [{**EVENT, "type": "track"}]}
    headers = {}
    if how == "basic":
        headers = basic(KEY)
    elif how == "header":
        headers = {"X-Write-Key": KEY}
    elif how == "body":
        body["writeKey"] = KEY
    else:
        body["batch"][0]["writeKey"] = KEY
    assert client.post("/v1/batch", json=body, headers=headers).status_code == 200
    [event] = landed(tmp_path)
    assert KEY not in json.dumps(event)


@pytest.mark.parametrize("key", [None, "unknown-key"])
def test_missing_or_unknown_write_key_is_401(client, tmp_path, key):
    headers = basic(key) if key else {}
    response = client.post("/v1/track", json=EVENT, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert landed(tmp_path) == []


def test_invalid_json_is_400_with_a_reason(client, tmp_path):
    response = client.post("/v1/batch", content=b'{"batch": [', headers=basic(KEY))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json" and "not valid JSON" in response.json()["message"]
    assert landed(tmp_path) == []


def test_event_without_user_or_anonymous_id_is_400_and_nothing_of_the_batch_is_stored(client, tmp_path):
    batch = [{**EVENT, "type": "track"}, {"type": "track", "event": "Viewed"}]
    response = client.post("/v1/batch", json={"batch": batch}, headers=basic(KEY))
    assert response.status_code == 400
    assert response.json()["code"] == "missing_identifier"
    assert "batch[1]" in response.json()["message"]
    assert landed(tmp_path) == []


def test_oversize_event_is_400(client, tmp_path):
    big = {**EVENT, "properties": {"blob": "x" * (33 * 1024)}}
    assert client.post("/v1/track", json=big, headers=basic(KEY)).json()["code"] == "payload_too_large"
    in_batch = client.post("/v1/batch", json={"batch": [{**big, "type": "track"}]}, headers=basic(KEY))
    assert in_batch.status_code == 400 and "batch[0]" in in_batch.json()["message"]
    assert landed(tmp_path) == []


def test_oversize_batch_is_400_even_when_gzip_makes_it_small(client, tmp_path):
    events = [{**EVENT, "type": "track", "properties": {"blob": "y" * 20_000}} for _ in range(30)]  # ~600 KB
    body = gzip.compress(json.dumps({"batch": events}).encode())
    assert len(body) < 50_000
    response = client.post("/v1/batch", content=body, headers={**basic(KEY), "Content-Encoding": "gzip"})
    assert response.status_code == 400 and response.json()["code"] == "payload_too_large"
    assert "500 KB" in response.json()["message"]
    assert landed(tmp_path) == []


def test_gzip_batch_is_accepted(client, tmp_path):
    events = [{**EVENT, "type": "track", "messageId": f"m-{i}"} for i in range(50)]
    body = gzip.compress(json.dumps({"batch": events, "sentAt": datetime.now(UTC).isoformat()}).encode())
    response = client.post("/v1/batch", content=body, headers={**basic(KEY), "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert [e["messageId"] for e in landed(tmp_path)] == [f"m-{i}" for i in range(50)]


def test_broken_gzip_is_400(client):
    response = client.post(
        "/v1/batch", content=b"not gzip", headers={**basic(KEY), "Content-Encoding": "gzip"}
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_encoding"


def test_track_without_event_name_and_unknown_type_are_400(client):
    assert (
        client.post("/v1/track", json={"userId": "u"}, headers=basic(KEY)).json()["code"]
        == "missing_event_name"
    )
    bad_type = client.post(
        "/v1/batch", json={"batch": [{"type": "click", "userId": "u"}]}, headers=basic(KEY)
    )
    assert bad_type.status_code == 400 and bad_type.json()["code"] == "invalid_type"


def test_backpressure_is_429_with_retry_after(tmp_path):
    # "Behind" here: the landing file system has less free space than the floor.
    with TestClient(create_app(settings(tmp_path, min_free_bytes=1 << 62))) as test_client:
        response = test_client.post("/v1/track", json=EVENT, headers=basic(KEY))
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) > 0
        assert response.json()["code"] == "backpressure"
        health = test_client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "behind"
    assert landed(tmp_path) == []


def test_short_paths_of_analytics_js_set_the_type(client, tmp_path):
    for path in ["/v1/t", "/v1/p", "/v1/i", "/v1/s"]:
        body = {"anonymousId": "a-1", "event": "E", "writeKey": KEY}
        response = client.post(path, content=json.dumps(body), headers={"Content-Type": "text/plain"})
        assert response.status_code == 200, (path, response.text)
    assert [e["type"] for e in landed(tmp_path)] == ["track", "page", "identify", "screen"]


def test_cors_preflight_allows_the_headers_analytics_js_sends(client):
    response = client.options(
        "/v1/t",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://shop.example")
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    post = client.post("/v1/t", json={**EVENT, "writeKey": KEY}, headers={"Origin": "https://shop.example"})
    assert post.headers["access-control-allow-origin"] in ("*", "https://shop.example")


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_cdn_settings_point_analytics_js_at_the_collector(client):
    response = client.get(f"/v1/projects/{KEY}/settings", headers={"Host": "collect.shop.example"})
    assert response.json()["integrations"]["Segment.io"]["apiHost"] == "collect.shop.example/v1"
    assert client.get("/v1/projects/nope/settings").status_code == 404


def test_clock_skew_correction():
    received = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    # The device clock is 1 h fast: it stamped the event at 13:00:00 and sent it 10 s later by its own clock.
    line = prepare_event(
        {"type": "track", "event": "E", "userId": "u", "timestamp": "2026-12-07T13:00:00Z"},
        where="event",
        stamp=Stamp(received, "ios"),
        batch_sent_at="2026-12-07T13:00:10+00:00",
    )
    event = json.loads(line)
    assert event["timestamp"] == "2026-12-07T11:59:50.000Z"
    assert event["originalTimestamp"] == "2026-12-07T13:00:00.000Z"
    assert event["receivedAt"] == "2026-12-07T12:00:00.000Z"


def test_invalid_timestamp_is_400(client):
    response = client.post("/v1/track", json={**EVENT, "timestamp": "yesterday"}, headers=basic(KEY))
    assert response.status_code == 400 and response.json()["code"] == "invalid_timestamp"


def test_settings_never_show_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("CDP_COLLECT_WRITE_KEYS", "web=secret-web-key,server=secret-server-key")
    monkeypatch.setenv("CDP_DATA_DIR", str(tmp_path))
    loaded = CollectSettings.from_env()
    assert loaded.write_keys == {"secret-web-key": "web", "secret-server-key": "server"}
    assert "secret" not in repr(loaded) and "secret" not in str(loaded)
    assert loaded.landing_dir == (tmp_path / "events").resolve()
    with pytest.raises(CollectSettingsError) as error:
        parse_write_keys("web=secret-a,ios=secret-a")
    assert "secret" not in str(error.value)
    monkeypatch.delenv("CDP_DATA_DIR")
    monkeypatch.delenv("CDP_COLLECT_LANDING_DIR", raising=False)
    with pytest.raises(CollectSettingsError, match="CDP_DATA_DIR"):
        CollectSettings.from_env()


def test_backpressure_when_fsyncs_fall_behind(tmp_path, monkeypatch):
    # "Behind" here: more accepted bytes wait for their fsync than the limit (a slow or stalled disk).
    import os
    import threading
    import time

    gate = threading.Event()
    real_fdatasync = os.fdatasync

    def stalled_fdatasync(fd):
        gate.wait(timeout=30)
        real_fdatasync(fd)

    app = create_app(settings(tmp_path, max_pending_bytes=10))
    with TestClient(app) as test_client:
        monkeypatch.setattr(os, "fdatasync", stalled_fdatasync)
        first: dict = {}
        waiting = threading.Thread(
            target=lambda: first.update(r=test_client.post("/v1/track", json=EVENT, headers=basic(KEY)))
        )
        waiting.start()
        deadline = time.monotonic() + 10
        while app.state.writer.pending_bytes <= 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        response = test_client.post("/v1/track", json=EVENT, headers=basic(KEY))
        assert response.status_code == 429 and response.headers["Retry-After"] == "1"
        assert "fsync" in response.json()["message"]
        assert "r" not in first, "the first request is not answered before its fsync"
        gate.set()
        waiting.join(timeout=30)
        assert first["r"].status_code == 200
    assert len(landed(tmp_path)) == 1
