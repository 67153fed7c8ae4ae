"""The contact ledger: every sync that causes a message writes its campaign for the people actually
contacted (frequency caps read it); ad audiences and plain lists write nothing."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from retl_helpers import META_MAPPING, base_sync, make_audience, sync_from

from reverse_etl import load_syncs
from reverse_etl.destinations.base import MessagingChannel
from reverse_etl.engine import run_sync
from reverse_etl.errors import SyncConfigError
from reverse_etl.testing.standins import KlaviyoStandin, MetaStandin, WebhookStandin
from sen.segments.campaigns import MESSAGING_CHANNELS

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 9, 0)


def ledger(conn) -> list[tuple]:
    return conn.execute(
        "SELECT person_id, channel, campaign, destination, sync_name, sent_at, delivery "
        "FROM sync.contact_ledger ORDER BY person_id, sent_at"
    ).fetchall()


@pytest.fixture
def klaviyo_flow_sync(klaviyo: KlaviyoStandin):
    data = base_sync(
        "klaviyo_flow",
        {
            "type": "klaviyo",
            "list_id": "LST1",
            "api_key_env": "KLAVIYO_KEY",
            "base_url": klaviyo.base_url,
            "poll_interval_s": 0.01,
            "contact_on_add": True,
        },
        {"email": "email", "first_name": "first_name", "properties.display_name": "display_name"},
        campaign="winback",
    )
    return lambda **o: sync_from(data, **o)


def test_list_that_triggers_a_flow_ledgers_each_member_actually_added(
    warehouse, klaviyo: KlaviyoStandin, klaviyo_flow_sync
) -> None:
    make_audience(warehouse, 6)
    klaviyo.refuse_emails["user.4@example.com"] = "Profile is suppressed"
    first = run_sync(warehouse, klaviyo_flow_sync(), now=NOW)
    assert first.sent_rows == 6 and first.rejected == 1
    rows = ledger(warehouse)
    # the refused member got no email, so it is no contact
    assert [r[0] for r in rows] == ["p000000", "p000001", "p000002", "p000003", "p000005"]
    assert {r[1:] for r in rows} == {("email", "winback", "klaviyo", "klaviyo_flow", NOW, "acknowledged")}

    # a changed profile is an update, not a new list add: the flow does not send again
    warehouse.execute("UPDATE audience_test SET display_name = 'VIP' WHERE person_id = 'p000001'")
    klaviyo.refuse_emails.clear()  # the suppression is lifted: the refused member is added now
    later = datetime(2026, 11, 21, 9, 0)
    second = run_sync(warehouse, klaviyo_flow_sync(), now=later)
    assert second.changed == 1 and second.added == 1
    assert [r[0] for r in ledger(warehouse) if r[5] == later] == ["p000004"]

    # leaving and joining again is a new add, and a new email
    warehouse.execute("DELETE FROM audience_test WHERE person_id = 'p000002'")
    run_sync(warehouse, klaviyo_flow_sync(), now=later)
    make_audience(warehouse, 6)
    rejoin = datetime(2026, 11, 22, 9, 0)
    run_sync(warehouse, klaviyo_flow_sync(), now=rejoin)
    assert [r[0] for r in ledger(warehouse) if r[5] == rejoin] == ["p000002"]


def test_dry_run_and_plain_lists_write_no_contacts(warehouse, klaviyo_flow_sync) -> None:
    make_audience(warehouse, 4)
    run_sync(warehouse, klaviyo_flow_sync(), dry_run=True)
    assert ledger(warehouse) == []
    plain = klaviyo_flow_sync(destination={"contact_on_add": False}, campaign=None)
    assert run_sync(warehouse, plain).sent_rows == 4
    assert ledger(warehouse) == []


def test_webhook_to_a_messaging_tool_ledgers_its_channel(warehouse, webhook: WebhookStandin) -> None:
    make_audience(warehouse, 5)
    webhook.refuse_keys["p000002"] = "opted out of SMS"
    cfg = sync_from(
        base_sync(
            "sms_tool",
            {
                "type": "webhook",
                "base_url": webhook.base_url,
                "path": "/hook",
                "secret_env": "HOOK_SECRET",
                "contact_on_add": True,
                "contact_channel": "sms",
            },
            {"phone": "phone"},
            mode="upsert",
            campaign="service_recovery",
        )
    )
    result = run_sync(warehouse, cfg, now=NOW)
    assert result.rejected == 1
    rows = ledger(warehouse)
    assert [r[0] for r in rows] == ["p000000", "p000001", "p000003", "p000004"]
    assert {(r[1], r[2], r[3]) for r in rows} == {("sms", "service_recovery", "webhook")}


def test_ad_audiences_write_no_contacts(warehouse, meta: MetaStandin, meta_sync) -> None:
    make_audience(warehouse, 10)
    assert run_sync(warehouse, meta_sync()).sent_rows == 10
    assert ledger(warehouse) == []


@pytest.mark.parametrize(
    ("destination", "mapping", "campaign", "error"),
    [
        (
            {"type": "meta_custom_audiences", "audience_id": "1", "token_env": "T"},
            META_MAPPING,
            "retargeting",
            "campaign: 'meta_custom_audiences' is an ad audience: it sends no message",
        ),
        (
            {"type": "google_customer_match", "operating_account_id": "1", "product_destination_id": "2"}
            | {"token_env": "T"},
            {"email": "email"},
            "retargeting",
            "campaign: 'google_customer_match' is an ad audience",
        ),
        (
            {"type": "klaviyo", "list_id": "L", "api_key_env": "K"},
            {"email": "email"},
            "winback",
            "campaign: written to the contact ledger only with destination.contact_on_add: true",
        ),
        (
            {"type": "klaviyo", "list_id": "L", "api_key_env": "K", "contact_on_add": True},
            {"email": "email"},
            None,
            "campaign: required for syncs with contact_on_add",
        ),
        (
            {"type": "webhook", "secret_env": "S", "contact_on_add": True},
            {"email": "email"},
            "winback",
            "contact_channel: required with contact_on_add",
        ),
        (
            {"type": "webhook", "secret_env": "S", "contact_on_add": True, "contact_channel": "fax"},
            {"email": "email"},
            "winback",
            "destination.contact_channel: Input should be 'email', 'push', 'sms' or 'zalo'",
        ),
        (
            {"type": "fcm", "project_id": "p", "token_env": "T"},
            {"token": "push_token"},
            "Cart Abandoners!",
            "campaign: lowercase letters, digits and '_'",
        ),
    ],
)
def test_campaign_is_validated(destination, mapping, campaign, error) -> None:
    mode = "insert" if destination["type"] == "fcm" else "add_remove"
    data = base_sync("bad_campaign", destination, mapping, campaign=campaign, mode=mode)
    if campaign is None:
        data.pop("campaign")
    with pytest.raises(SyncConfigError, match=re.escape(error)) as exc:
        sync_from(data)
    assert "<test bad_campaign>" in str(exc.value)


def test_repository_syncs_ledger_every_message_under_a_known_campaign() -> None:
    campaigns = {
        c["name"] for c in yaml.safe_load((REPO / "dbt_project/campaigns.yml").read_text())["campaigns"]
    }
    syncs = {s.name: s for s in load_syncs(REPO / "reverse_etl/syncs")}
    messaging = {name: (s.ledger_channel, s.campaign) for name, s in syncs.items() if s.ledger_channel}
    assert messaging == {
        "fcm_cart_abandoners": ("push", "cart_abandoners"),
        "zalo_cart_abandoners": ("zalo", "cart_abandoners"),
        "klaviyo_winback": ("email", "winback"),
        "webhook_service_recovery": ("email", "service_recovery"),
    }
    assert {c for _, c in messaging.values()} <= campaigns
    for s in syncs.values():
        if s.destination.ad_audience:
            assert s.ledger_channel is None and s.campaign is None


def test_ledger_channels_are_the_ones_frequency_caps_count() -> None:
    assert set(MessagingChannel.__args__) == {c.value for c in MESSAGING_CHANNELS}
