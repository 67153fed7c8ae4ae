"""Consent a client sends with its events (context.consent.categoryPreferences) reaches the consent model:
stg_tracking__events keeps it, int_event_consent_choices maps it to channels, and customers.consent_<channel>
reads those as one more source of choices."""

from __future__ import annotations

import duckdb
import segment.analytics as segment_analytics

from tests.collect.conftest import WRITE_KEYS, ingest, run_dbt


def test_consent_sent_with_events_reaches_the_consent_model(collector, tmp_path):
    client = segment_analytics.Client(write_key=WRITE_KEYS["server"], host=collector.url, sync_mode=True)
    _, withdrawn = client.identify(
        user_id="consent-user",
        traits={"email": "c@example.com"},
        context={"consent": {"categoryPreferences": {"Advertising": False, "Analytics": True}}},
    )
    _, granted = client.track(
        anonymous_id="consent-anon",
        event="Page Scrolled",
        context={"consent": {"categoryPreferences": {"Advertising": True}}},
    )
    _, silent = client.track(anonymous_id="consent-anon", event="No Consent Sent")
    collector.stop()
    warehouse = tmp_path / "w.duckdb"
    result, _, _ = ingest(collector.data_dir, warehouse)
    assert result.rows_loaded == 3

    run_dbt(warehouse, tmp_path, "stg_tracking__events", "int_event_consent_choices")
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = conn.execute(
            "select event_id, channel, category, is_granted from intermediate.int_event_consent_choices "
            "order by is_granted"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [
        (withdrawn["messageId"], "ads", "Advertising", False),
        (granted["messageId"], "ads", "Advertising", True),
    ]
    assert silent["messageId"] not in {r[0] for r in rows}
