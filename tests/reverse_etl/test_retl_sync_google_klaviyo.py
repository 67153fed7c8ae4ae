"""Google Customer Match (Data Manager API) and Klaviyo list syncs against their stand-ins."""

from __future__ import annotations

import hashlib
import time

import pytest
from retl_helpers import base_sync, make_audience, sync_from

from reverse_etl.engine import run_sync
from reverse_etl.testing.server import Fault
from reverse_etl.testing.standins import GoogleStandin, KlaviyoStandin


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def google_sync(google: GoogleStandin):
    data = base_sync(
        "google_test",
        {
            "type": "google_customer_match",
            "operating_account_id": "123",
            "product_destination_id": "ul-1",
            "token_env": "GOOGLE_TOKEN",
            "base_url": google.base_url,
            "batch_size": 40,
        },
        {
            "email": "email",
            "phone": "phone",
            "first_name": "first_name",
            "last_name": "last_name",
            "country": "country",
            "postal_code": "postal_code",
            "consent_ad_personalization": "consent",
        },
    )
    return lambda **o: sync_from(data, **o)


def test_google_hashes_with_google_rules(warehouse, google: GoogleStandin, google_sync) -> None:
    make_audience(warehouse, 50)
    warehouse.execute("ALTER TABLE audience_test ADD COLUMN consent VARCHAR DEFAULT 'true'")
    warehouse.execute(
        "UPDATE audience_test SET email = 'Jane.Doe+promo@GMail.com', consent = 'false' WHERE person_id = 'p000001'"
    )
    result = run_sync(warehouse, google_sync())
    assert result.status == "success" and result.sent_rows == 50
    emails = google.emails["ul-1"]
    assert h("janedoe@gmail.com") in emails  # gmail rule: dots and +tag dropped
    assert h("user.2@example.com") in emails  # other domains keep their dots
    assert h("+84912000000") in google.phones["ul-1"]  # E.164 with '+'
    assert google.addresses["ul-1"] == {(h("nguyễn"), h("văn"), "VN", "70000")}  # digits are not name letters
    assert google.consents[h("janedoe@gmail.com")]["adPersonalization"] == "CONSENT_DENIED"
    assert google.consents[h("user.2@example.com")]["adUserData"] == "CONSENT_GRANTED"


def test_google_member_violation_rejects_only_that_member(
    warehouse, google: GoogleStandin, google_sync
) -> None:
    make_audience(warehouse, 30)
    warehouse.execute("ALTER TABLE audience_test ADD COLUMN consent VARCHAR")
    google.refuse[h("user.7@example.com")] = "email hash rejected"
    result = run_sync(warehouse, google_sync())
    assert result.status == "success" and result.rejected == 1
    assert len(google.emails["ul-1"]) == 29
    reason = warehouse.execute(
        "SELECT reason FROM sync.sync_rejections WHERE primary_key = 'p000007'"
    ).fetchone()[0]
    assert reason == "google: email hash rejected"


def test_google_removal_and_faults(warehouse, google: GoogleStandin, google_sync) -> None:
    make_audience(warehouse, 60)
    warehouse.execute("ALTER TABLE audience_test ADD COLUMN consent VARCHAR")
    run_sync(warehouse, google_sync())
    warehouse.execute("DELETE FROM audience_test WHERE person_id < 'p000005'")
    google.inject(Fault.status_code(429, retry_after=0.01), Fault.status_code(503), Fault.drop_after())
    result = run_sync(warehouse, google_sync())
    assert result.removed == 5 and result.retries == 3
    expected = {h(e.lower()) for (e,) in warehouse.execute("SELECT email FROM audience_test").fetchall()}
    assert google.emails["ul-1"] == expected


def test_raw_email_is_refused_by_google_standin(google: GoogleStandin) -> None:
    import httpx

    body = {
        "destinations": [{"operatingAccount": {"accountId": "1"}, "productDestinationId": "ul-1"}],
        "audienceMembers": [{"userData": {"userIdentifiers": [{"emailAddress": "jane@example.com"}]}}],
        "encoding": "HEX",
        "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
    }
    r = httpx.post(
        f"{google.base_url}/v1/audienceMembers:ingest",
        json=body,
        headers={"Authorization": "Bearer ya29.google-SECRET-token-77aa"},
    )
    assert r.status_code == 400
    assert "audience_members[0]" in r.json()["error"]["details"][0]["fieldViolations"][0]["field"]
    assert not google.emails["ul-1"]


# ---------------------------------------------------------------------------- Klaviyo


@pytest.fixture
def klaviyo_sync(klaviyo: KlaviyoStandin):
    data = base_sync(
        "klaviyo_test",
        {
            "type": "klaviyo",
            "list_id": "LST1",
            "api_key_env": "KLAVIYO_KEY",
            "base_url": klaviyo.base_url,
            "poll_interval_s": 0.01,
            "rate_limit_per_s": 1000,
        },
        {
            "email": "email",
            "phone_number": "phone",
            "first_name": "first_name",
            "properties.display_name": "display_name",
        },
    )
    return lambda **o: sync_from(data, **o)


def test_klaviyo_list_import_nulls_never_clear(warehouse, klaviyo: KlaviyoStandin, klaviyo_sync) -> None:
    make_audience(warehouse, 25)
    assert run_sync(warehouse, klaviyo_sync()).sent_rows == 25
    assert klaviyo.list_emails("LST1") == {f"user.{i}@example.com" for i in range(25)}
    profile = klaviyo.profiles[klaviyo._by_email["user.3@example.com"]]
    assert profile["phone_number"] == "+84912000003"
    assert profile["properties"] == {"display_name": "Khách 3"}
    warehouse.execute(
        "UPDATE audience_test SET first_name = NULL, display_name = 'VIP 3' WHERE person_id = 'p000003'"
    )
    result = run_sync(warehouse, klaviyo_sync())
    assert result.changed == 1 and result.sent_rows == 1
    assert profile["first_name"] == "Nguyễn"  # a null in the warehouse left the good value alone
    assert profile["properties"]["display_name"] == "VIP 3"


def test_klaviyo_429_import_errors_and_removal(warehouse, klaviyo: KlaviyoStandin, klaviyo_sync) -> None:
    make_audience(warehouse, 12)
    warehouse.execute("UPDATE audience_test SET phone = NULL WHERE person_id = 'p000005'")
    klaviyo.refuse_emails["user.5@example.com"] = "Profile is suppressed"
    klaviyo.inject(Fault.status_code(429, retry_after=0.05, count=2))
    result = run_sync(warehouse, klaviyo_sync())
    assert result.status == "success" and result.retries == 2 and result.rejected == 1
    reason = warehouse.execute(
        "SELECT reason FROM sync.sync_rejections WHERE primary_key = 'p000005'"
    ).fetchone()[0]
    assert reason == "klaviyo: Profile is suppressed"
    assert "user.5@example.com" not in klaviyo.list_emails("LST1")
    warehouse.execute("DELETE FROM audience_test WHERE person_id IN ('p000001', 'p000002')")
    removal = run_sync(warehouse, klaviyo_sync())
    assert removal.removed == 2
    assert klaviyo.list_emails("LST1") == {f"user.{i}@example.com" for i in range(12) if i not in (1, 2, 5)}
    assert len(klaviyo.profiles) == 11  # removed from the list, the profiles themselves stay


def test_klaviyo_properties_json_column(warehouse, klaviyo: KlaviyoStandin) -> None:
    make_audience(warehouse, 3)
    warehouse.execute(
        'ALTER TABLE audience_test ADD COLUMN properties VARCHAR DEFAULT \'{"tier": "gold", "clv": 1.5}\''
    )
    warehouse.execute("UPDATE audience_test SET properties = '[1, 2]' WHERE person_id = 'p000001'")
    cfg = sync_from(
        base_sync(
            "klaviyo_json",
            {
                "type": "klaviyo",
                "list_id": "LST1",
                "api_key_env": "KLAVIYO_KEY",
                "base_url": klaviyo.base_url,
                "poll_interval_s": 0.01,
            },
            {"email": "email", "properties": "properties", "properties.variant": "display_name"},
        )
    )
    result = run_sync(warehouse, cfg)
    assert result.sent_rows == 2 and result.rejected == 1
    profile = klaviyo.profiles[klaviyo._by_email["user.0@example.com"]]
    assert profile["properties"] == {"tier": "gold", "clv": 1.5, "variant": "Khách 0"}
    reason = warehouse.execute(
        "SELECT reason FROM sync.sync_rejections WHERE primary_key = 'p000001'"
    ).fetchone()[0]
    assert reason == "klaviyo: properties: expected a JSON object"


@pytest.fixture
def google_replace(google: GoogleStandin):
    data = base_sync(
        "google_replace",
        {
            "type": "google_customer_match",
            "operating_account_id": "123",
            "product_destination_id": "ul-1",
            "token_env": "GOOGLE_TOKEN",
            "base_url": google.base_url,
            "batch_size": 4,
            "replace_clock_margin_s": 0,
        },
        {"email": "email"},
        mode="replace",
    )
    return lambda **o: sync_from(data, **o)


def test_google_replace_makes_the_list_exactly_the_audience(
    warehouse, google: GoogleStandin, google_replace
) -> None:
    stale = h("uploaded.by.hand@example.com")
    google.emails["ul-1"].add(stale)
    google.uploaded_at[("ul-1", "emailAddress", stale)] = time.time() - 3600
    make_audience(warehouse, 10)
    first = run_sync(warehouse, google_replace())
    assert first.status == "success" and first.sent_rows == 10 and len(google.remove_all_calls) == 1
    assert google.emails["ul-1"] == {h(f"user.{i}@example.com") for i in range(10)}  # the stale one left

    assert run_sync(warehouse, google_replace()).requests == 0  # nothing changed: nothing sent

    time.sleep(0.01)  # removeAsOfTime of the next run is after the first run's uploads
    warehouse.execute("DELETE FROM audience_test WHERE person_id IN ('p000001', 'p000002', 'p000003')")
    warehouse.execute(
        "INSERT INTO audience_test (person_id, email) VALUES ('n1', 'new.1@example.com'), ('n2', 'new.2@example.com')"
    )
    second = run_sync(warehouse, google_replace())
    assert second.sent_rows == 9 and len(google.remove_all_calls) == 2
    expected = {h(f"user.{i}@example.com") for i in (0, 4, 5, 6, 7, 8, 9)} | {
        h("new.1@example.com"),
        h("new.2@example.com"),
    }
    assert google.emails["ul-1"] == expected

    time.sleep(0.01)
    warehouse.execute("DELETE FROM audience_test")
    emptied = run_sync(warehouse, google_replace())
    assert emptied.status == "success" and emptied.removed == 9 and google.emails["ul-1"] == set()


def test_google_replace_margin_protects_fresh_uploads_from_clock_skew(
    warehouse, google: GoogleStandin, google_replace
) -> None:
    make_audience(warehouse, 5)
    google.clock_offset_s = -60  # Google's clock is a minute behind this machine's
    run_sync(warehouse, google_replace())
    assert google.emails["ul-1"] == set()  # without a margin the new uploads look older than T
    warehouse.execute("UPDATE audience_test SET email = lower(email)")  # a change: replace runs again
    run_sync(warehouse, google_replace(destination={"replace_clock_margin_s": 120}))
    assert len(google.emails["ul-1"]) == 5
