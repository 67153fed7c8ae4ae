"""Issue 18, case 7: destinations as their vendors document them (sources in docs/reverse_etl.md,
"Vendor contracts, checked"). The stand-ins enforce the corrected contracts and refuse the old values:
Google Data Manager ConsentStatus values and asynchronous request status, Meta Marketing API versions, and
FCM's INVALID_ARGUMENT for a registration token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import duckdb
import httpx
import pytest

from reverse_etl.config import parse_sync
from reverse_etl.destinations.fcm import _classify as fcm_classify
from reverse_etl.engine import run_sync
from reverse_etl.errors import SyncConfigError, SyncRunError
from reverse_etl.testing.standins import FcmStandin, GoogleStandin, MetaStandin
from tests.reverse_etl.retl_helpers import FAST_RETRY, make_audience

TOKEN = "reliability-SECRET-token-2718"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEST_TOKEN", TOKEN)


@pytest.fixture
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    yield c
    c.close()


@pytest.fixture
def google() -> Iterator[GoogleStandin]:
    with GoogleStandin(token=TOKEN, user_list_ids={"ul-1"}) as server:
        yield server  # type: ignore[misc]


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sync(name: str, destination: dict, mapping: dict, **extra):
    return parse_sync(
        {
            "name": name,
            "model": "audience_test",
            "primary_key": "person_id",
            "mode": extra.pop("mode", "add_remove"),
            "schedule": "0 3 * * *",
            "mapping": mapping,
            "destination": {"retry": dict(FAST_RETRY), "timeout_s": 5.0, **destination},
            **extra,
        },
        source=f"<reliability {name}>",
    )


def google_sync(google: GoogleStandin, mode: str = "add_remove", **destination):
    return sync(
        "google_contract",
        {
            "type": "google_customer_match",
            "operating_account_id": "123",
            "product_destination_id": "ul-1",
            "token_env": "DEST_TOKEN",
            "base_url": google.base_url,
            "batch_size": 10,
            "request_status_poll_s": 0.01,
            **destination,
        },
        {"email": "email", "consent_ad_personalization": "consent"},
        mode=mode,
    )


def emails(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return {h(e.lower()) for (e,) in conn.execute("SELECT email FROM audience_test").fetchall()}


# ---------------------------------------------------------------------------- Google consent
def test_google_consent_uses_the_consent_status_enum(conn, google: GoogleStandin) -> None:
    make_audience(conn, 4)
    conn.execute("ALTER TABLE audience_test ADD COLUMN consent VARCHAR DEFAULT 'yes'")
    conn.execute("UPDATE audience_test SET consent = 'no' WHERE person_id = 'p000001'")
    assert run_sync(conn, google_sync(google)).status == "success"
    assert google.consents[h("user.1@example.com")] == {
        "adUserData": "CONSENT_GRANTED",
        "adPersonalization": "CONSENT_DENIED",
    }
    assert google.consents[h("user.2@example.com")]["adPersonalization"] == "CONSENT_GRANTED"


def test_google_standin_refuses_the_old_consent_values(google: GoogleStandin) -> None:
    body = {
        "destinations": [{"operatingAccount": {"accountId": "1"}, "productDestinationId": "ul-1"}],
        "audienceMembers": [{"userData": {"userIdentifiers": [{"emailAddress": h("a@b.c")}]}}],
        "encoding": "HEX",
        "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"},
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
    }
    answer = httpx.post(
        f"{google.base_url}/v1/audienceMembers:ingest",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    with pytest.raises(SyncConfigError, match="ad_user_data"):
        google_sync(google, ad_user_data="GRANTED")


# ---------------------------------------------------------------------------- Google async status
def test_google_failed_request_is_recorded_and_resent(conn, google: GoogleStandin) -> None:
    make_audience(conn, 25)
    conn.execute("ALTER TABLE audience_test ADD COLUMN consent VARCHAR")
    google.fail_next = ["PROCESSING_ERROR_REASON_INVALID_HASHED_EMAIL"]  # the first ingest (10 members)
    result = run_sync(conn, google_sync(google, max_in_flight=1))
    assert result.status == "success" and result.rejected == 10
    assert len(google.emails["ul-1"]) == 15 and google.status_reads >= 3
    reasons = conn.execute(
        "SELECT DISTINCT stage, reason FROM sync.sync_rejections WHERE sync_name = 'google_contract'"
    ).fetchall()
    assert reasons == [
        ("destination", "google: request failed (PROCESSING_ERROR_REASON_INVALID_HASHED_EMAIL x10)")
    ]
    assert conn.execute('SELECT count(*) FROM sync."state__google_contract"').fetchone()[0] == 15
    again = run_sync(conn, google_sync(google))
    assert again.added == 10 and google.emails["ul-1"] == emails(conn)


def test_google_replace_waits_for_processing_before_remove_all(conn, google: GoogleStandin) -> None:
    make_audience(conn, 30)
    conn.execute("ALTER TABLE audience_test ADD COLUMN consent VARCHAR")
    google.processing_polls = 2
    assert run_sync(conn, google_sync(google, mode="replace", replace_clock_margin_s=0)).status == "success"
    conn.execute("DELETE FROM audience_test WHERE person_id < 'p000005'")
    conn.execute("UPDATE audience_test SET email = 'new.' || email WHERE person_id = 'p000009'")
    assert run_sync(conn, google_sync(google, mode="replace", replace_clock_margin_s=0)).status == "success"
    assert google.violations == [] and len(google.remove_all_calls) == 2
    assert google.emails["ul-1"] == emails(conn)


def test_google_replace_does_not_remove_all_when_an_ingest_failed(conn, google: GoogleStandin) -> None:
    make_audience(conn, 12)
    conn.execute("ALTER TABLE audience_test ADD COLUMN consent VARCHAR")
    google.fail_next = ["PROCESSING_ERROR_REASON_INTERNAL"]
    with pytest.raises(SyncRunError, match="removeAll not sent"):
        run_sync(conn, google_sync(google, mode="replace", replace_clock_margin_s=0))
    assert google.remove_all_calls == []
    assert run_sync(conn, google_sync(google, mode="replace", replace_clock_margin_s=0)).status == "success"
    assert google.emails["ul-1"] == emails(conn)


# ---------------------------------------------------------------------------- Meta version
def test_meta_default_version_is_served_and_an_expired_one_is_refused(conn) -> None:
    make_audience(conn, 3)
    with MetaStandin(token=TOKEN, audience_ids={"61001"}) as meta:
        destination = {
            "type": "meta_custom_audiences",
            "audience_id": "61001",
            "token_env": "DEST_TOKEN",
            "base_url": meta.base_url,
        }
        assert run_sync(conn, sync("meta_contract", destination, {"EMAIL": "email"})).status == "success"
        assert len(meta.members("EMAIL")) == 3
        with pytest.raises(SyncRunError, match="2635"):
            run_sync(conn, sync("meta_old", {**destination, "api_version": "v21.0"}, {"EMAIL": "email"}))


# ---------------------------------------------------------------------------- FCM tokens
def test_fcm_invalid_argument_on_a_token_marks_it_dead(conn) -> None:
    make_audience(conn, 5)
    with FcmStandin(token=TOKEN, project_id="sen-app") as fcm:
        fcm.invalid_tokens.add("tok-3")
        push = sync(
            "fcm_contract",
            {"type": "fcm", "project_id": "sen-app", "token_env": "DEST_TOKEN", "base_url": fcm.base_url},
            {"token": "push_token", "title": "display_name"},
            mode="insert",
            campaign="reliability",
        )
        result = run_sync(conn, push)
        assert result.status == "success" and result.rejected == 1 and len(fcm.messages) == 4
    dead = conn.execute("SELECT token FROM sync.dead_push_tokens").fetchall()
    assert dead == [("tok-3",)]


def test_fcm_invalid_argument_on_a_message_field_is_not_a_dead_token() -> None:
    message_error = FcmStandin._error(
        400, "INVALID_ARGUMENT", "Invalid value at 'message.data[0].value'", "message.data"
    )
    outcome = fcm_classify(httpx.Response(400, json=message_error))
    assert outcome.status == "rejected" and outcome.dead_token is None
    token_error = FcmStandin._error(
        400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"
    )
    outcome = fcm_classify(httpx.Response(400, json=token_error))
    assert outcome.status == "rejected" and outcome.dead_token is not None
