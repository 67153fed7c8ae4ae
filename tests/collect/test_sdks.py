"""The real server SDKs (Segment's and RudderStack's Python libraries) send to the collector; the events ingestion
loads what landed into raw.events with every field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import rudderstack.analytics as rudder_analytics
import segment.analytics as segment_analytics

from tests.collect.conftest import WRITE_KEYS, ingest

CONSENT = {"consent": {"categoryPreferences": {"Advertising": False, "Marketing": True, "Analytics": True}}}


def _send_all(client, tag: str) -> dict[str, dict]:
    """One call of each type; returns the messages the SDK built, by messageId."""
    t0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    sent = [
        client.identify(
            user_id=f"{tag}-user-1",
            anonymous_id=f"{tag}-anon-1",
            traits={"email": f"{tag}@example.com", "phone": "+84901234567", "name": "Lan"},
            context={**CONSENT, "ip": "203.0.113.7"},
            timestamp=t0,
        ),
        client.track(
            user_id=f"{tag}-user-1",
            event="Product Added",
            properties={"sku": "SKU-1", "price": 199000, "quantity": 2, "cart_id": "c-1", "currency": "VND"},
            context=CONSENT,
            timestamp=t0 + timedelta(minutes=1),
        ),
        client.page(
            anonymous_id=f"{tag}-anon-1",
            category="Shop",
            name="Cart",
            properties={"url": "https://shop.example/cart?utm_source=zalo", "path": "/cart"},
            timestamp=t0 + timedelta(minutes=2),
        ),
        client.screen(
            user_id=f"{tag}-user-1",
            name="Checkout",
            properties={"step": 1},
            context={"device": {"id": f"{tag}-device", "type": "android"}},
            timestamp=t0 + timedelta(minutes=3),
        ),
        client.group(
            user_id=f"{tag}-user-1", group_id=f"{tag}-company", traits={"plan": "b2b"}, timestamp=t0
        ),
        client.alias(previous_id=f"{tag}-anon-1", user_id=f"{tag}-user-1", timestamp=t0),
    ]
    messages = {}
    for ok, message in sent:
        assert ok, message
        messages[message["messageId"]] = message
    return messages


def _as_json(text: str | None):
    return json.loads(text) if text is not None else None


def _assert_arrived(messages: dict[str, dict], rows: list[dict]) -> None:
    by_id = {row["message_id"]: row for row in rows}
    assert set(by_id) == set(messages), "every message the SDK sent is in raw.events"
    for message_id, message in messages.items():
        row = by_id[message_id]
        assert row["type"] == message["type"]
        assert row["user_id"] == message.get("userId")
        assert row["anonymous_id"] == message.get("anonymousId")
        assert row["event"] == message.get("event")
        assert row["name"] == message.get("name")
        assert row["group_id"] == message.get("groupId")
        assert row["previous_id"] == message.get("previousId")
        assert _as_json(row["properties"]) == (message.get("properties") or None)
        assert _as_json(row["traits"]) == (message.get("traits") or None)
        # The SDK adds its library to the context; consent and everything else the client sent is kept.
        assert _as_json(row["context"]) == message["context"]
        # The SDK's clock agrees with ours here, so the skew correction moves the time by the network delay only.
        original = datetime.fromisoformat(message["timestamp"])
        stored = datetime.fromisoformat(row["timestamp"])
        assert abs(stored - original) < timedelta(seconds=5)
        received = datetime.fromisoformat(row["received_at"])
        sent_at = datetime.fromisoformat(row["sent_at"])
        assert timedelta(0) <= received - sent_at < timedelta(seconds=30)
        assert abs(datetime.now(UTC) - received) < timedelta(minutes=5)


@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "plain"])
def test_segment_python_sdk_events_arrive_in_raw_events(collector, tmp_path, gzip):
    errors: list[Exception] = []
    client = segment_analytics.Client(
        write_key=WRITE_KEYS["server"],
        host=collector.url,
        gzip=gzip,
        on_error=lambda error, batch: errors.append(error),
        max_retries=2,
    )
    messages = _send_all(client, "seg")
    client.flush()
    client.join()
    assert errors == []
    collector.stop()  # publishes the open segment

    result, rows, quarantined = ingest(collector.data_dir, tmp_path / "w.duckdb")
    assert quarantined == []
    assert result.rows_loaded == len(messages) == 6
    _assert_arrived(messages, rows)
    consented = [r for r in rows if r["type"] in ("identify", "track")]
    for row in consented:
        assert _as_json(row["context"])["consent"]["categoryPreferences"]["Advertising"] is False


def test_rudderstack_python_sdk_events_arrive_in_raw_events(collector, tmp_path):
    errors: list[Exception] = []
    client = rudder_analytics.Client(
        write_key=WRITE_KEYS["server"],
        host=collector.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=2,
    )
    messages = _send_all(client, "rudder")
    client.flush()
    client.join()
    assert errors == []
    collector.stop()

    result, rows, quarantined = ingest(collector.data_dir, tmp_path / "w.duckdb")
    assert quarantined == []
    assert result.rows_loaded == 6
    _assert_arrived(messages, rows)


def test_unknown_write_key_is_refused_to_the_sdk(collector, tmp_path):
    errors: list[Exception] = []
    client = segment_analytics.Client(
        write_key="not-a-key",
        host=collector.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
    )
    client.track(user_id="u", event="Signed Up")
    client.flush()
    client.join()
    assert [getattr(e, "status", None) for e in errors] == [401]
    collector.stop()
    _, rows, _ = ingest(collector.data_dir, tmp_path / "w.duckdb")
    assert rows == []
