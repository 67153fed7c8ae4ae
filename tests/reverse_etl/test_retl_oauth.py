"""OAuth2 for FCM HTTP v1 and the Google Data Manager API: access tokens minted from a service-account key
with google-auth against stand-in token endpoints that verify the signed JWT assertion."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from retl_helpers import base_sync, make_audience, sync_from

from reverse_etl.engine import run_sync
from reverse_etl.errors import SyncConfigError, SyncRunError
from reverse_etl.oauth import DATAMANAGER_SCOPE, FCM_SCOPE
from reverse_etl.testing.oauth import TokenIssuer
from reverse_etl.testing.standins import FcmStandin, GoogleStandin


@pytest.fixture
def fcm_oauth() -> Iterator[tuple[FcmStandin, TokenIssuer]]:
    issuer = TokenIssuer(scope=FCM_SCOPE)
    with FcmStandin(token=None, project_id="sen-app", oauth=issuer) as server:
        yield server, issuer  # type: ignore[misc]


def fcm_sync(server: FcmStandin, name: str = "push_oauth"):
    return sync_from(
        base_sync(
            name,
            {
                "type": "fcm",
                "project_id": "sen-app",
                "service_account_env": "FCM_SERVICE_ACCOUNT",
                "base_url": server.base_url,
            },
            {"token": "push_token", "title": "display_name"},
            mode="insert",
            campaign="cart_abandoners",
        )
    )


def statuses(server) -> list[int]:
    with server.lock:
        return [status for _, path, status in server.log if path != "/token"]


def test_fcm_mints_one_token_from_a_service_account_and_reuses_it(
    warehouse, fcm_oauth, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, issuer = fcm_oauth
    info = issuer.new_account(token_uri=f"{server.base_url}/token")
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", json.dumps(info))  # the key's content in the variable
    make_audience(warehouse, 12)
    result = run_sync(warehouse, fcm_sync(server))
    assert result.status == "success" and result.sent_rows == 12
    assert len(server.messages) == 12 and issuer.grants == 1
    make_audience(warehouse, 15)  # three newcomers, next run: the cached token is still good
    assert run_sync(warehouse, fcm_sync(server)).sent_rows == 3
    assert issuer.grants == 1 and 401 not in statuses(server)


def test_token_is_refreshed_before_it_expires(
    warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # google-auth refreshes a token 225 s before its expiry: a 226 s token is stale after ~1 s
    issuer = TokenIssuer(scope=DATAMANAGER_SCOPE, lifetime_s=226)
    with GoogleStandin(token=None, user_list_ids={"ul-1"}, oauth=issuer) as google:
        key = tmp_path / "sa.json"
        key.write_text(json.dumps(issuer.new_account(token_uri=f"{google.base_url}/token")))
        monkeypatch.setenv("GOOGLE_SA_PATH", str(key))  # the key file's path in the variable
        cfg = sync_from(
            base_sync(
                "google_oauth",
                {
                    "type": "google_customer_match",
                    "operating_account_id": "123",
                    "product_destination_id": "ul-1",
                    "service_account_env": "GOOGLE_SA_PATH",
                    "base_url": google.base_url,
                    "batch_size": 5,
                    "max_in_flight": 1,
                },
                {"email": "email"},
            )
        )
        make_audience(warehouse, 10)
        assert run_sync(warehouse, cfg).sent_rows == 10
        assert issuer.grants == 1
        time.sleep(1.2)
        warehouse.execute("DELETE FROM audience_test WHERE person_id = 'p000001'")
        assert run_sync(warehouse, cfg).sent_rows == 1
        # a new token before the old one was refused: the API never answered 401
        assert issuer.grants == 2 and 401 not in statuses(google)
        assert len(google.emails["ul-1"]) == 9


def test_revoked_token_is_replaced_and_the_request_resent_once(
    warehouse, fcm_oauth, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, issuer = fcm_oauth
    monkeypatch.setenv(
        "FCM_SERVICE_ACCOUNT", json.dumps(issuer.new_account(token_uri=f"{server.base_url}/token"))
    )
    make_audience(warehouse, 2)
    assert run_sync(warehouse, fcm_sync(server)).sent_rows == 2
    issuer.expire_all()  # revoked server-side while the client still thinks it is valid
    make_audience(warehouse, 4)
    result = run_sync(warehouse, fcm_sync(server))
    assert result.status == "success" and result.sent_rows == 2 and result.rejected == 0
    # the messages go out concurrently: each is refused at most once, and one new token serves the resends
    assert issuer.grants == 2 and 1 <= statuses(server).count(401) <= 2
    assert sorted(server.per_token()) == [f"tok-{i}" for i in range(4)]  # each message exactly once


def test_untrusted_key_fails_without_leaking_secrets(
    warehouse, fcm_oauth, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, issuer = fcm_oauth
    stranger = TokenIssuer(scope=FCM_SCOPE).new_account(token_uri=f"{server.base_url}/token")
    content = json.dumps(stranger)
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", content)
    make_audience(warehouse, 3)
    with pytest.raises(SyncRunError, match="oauth token request .* failed") as err:
        run_sync(warehouse, fcm_sync(server, "push_untrusted"))
    assert set(issuer.refusals) == {"unknown service account (iss)"}
    assert server.messages == []
    key_body = stranger["private_key"].splitlines()[1]  # a line of the PEM body
    texts = [str(err.value), caplog.text]
    for (table,) in warehouse.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sync'"
    ).fetchall():
        texts.extend(str(row) for row in warehouse.execute(f'SELECT * FROM sync."{table}"').fetchall())
    blob = "\n".join(texts)
    assert "unknown service account" in blob
    assert key_body not in blob and content not in blob


def test_minted_tokens_never_reach_tables_or_logs(
    warehouse, fcm_oauth, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, issuer = fcm_oauth
    monkeypatch.setenv(
        "FCM_SERVICE_ACCOUNT", json.dumps(issuer.new_account(token_uri=f"{server.base_url}/token"))
    )
    make_audience(warehouse, 3)
    run_sync(warehouse, fcm_sync(server))
    with issuer.lock:
        minted = list(issuer._issued)
    issuer.expire_all()
    # the destination echoes the refused token in its 401 body: it must be masked where stored
    from reverse_etl.testing.server import Fault

    server.inject(
        Fault.status_code(
            401, body={"error": {"code": 401, "status": "UNAUTHENTICATED", "message": f"bad {minted[0]}"}}
        ),
        Fault.status_code(
            400, body={"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": f"x {minted[0]}"}}
        ),
    )
    make_audience(warehouse, 4)
    run_sync(warehouse, fcm_sync(server), raise_on_failure=False)
    texts = [caplog.text]
    for (table,) in warehouse.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sync'"
    ).fetchall():
        texts.extend(str(row) for row in warehouse.execute(f'SELECT * FROM sync."{table}"').fetchall())
    blob = "\n".join(texts)
    assert minted and all(token not in blob for token in minted)


@pytest.mark.parametrize(
    ("destination", "env", "error"),
    [
        ({"token_env": "T", "service_account_env": "SA"}, {}, "set exactly one of token_env"),
        ({}, {}, "set exactly one of token_env"),
    ],
)
def test_credential_settings_are_validated(destination, env, error) -> None:
    data = base_sync(
        "google_creds",
        {
            "type": "google_customer_match",
            "operating_account_id": "1",
            "product_destination_id": "2",
            **destination,
        },
        {"email": "email"},
    )
    with pytest.raises(SyncConfigError, match=error):
        sync_from(data)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", "FCM_SERVICE_ACCOUNT .* is not set or empty"),
        ("/nonexistent/sa.json", "cannot read the service-account key file /nonexistent/sa.json"),
        ('{"type": "service_account", "private_key": "-----BEGIN', "is not valid JSON"),
        ('{"type": "service_account", "private_key": "k"}', "lacks client_email, token_uri"),
        (
            '{"type": "service_account", "private_key": "not-a-pem", "client_email": "a@b", "token_uri": "x"}',
            "private_key cannot be loaded",
        ),
    ],
)
def test_bad_service_account_keys_name_the_variable_not_the_content(
    warehouse, fcm_oauth, monkeypatch: pytest.MonkeyPatch, value: str, error: str
) -> None:
    server, _ = fcm_oauth
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT", value)
    make_audience(warehouse, 1)
    with pytest.raises(SyncRunError, match=error) as err:
        run_sync(warehouse, fcm_sync(server, "push_badkey"))
    assert "not-a-pem" not in str(err.value) and "BEGIN" not in str(err.value)


def test_token_endpoint_verifies_the_signed_assertion(fcm_oauth) -> None:
    import httpx
    from google.auth import crypt, jwt

    server, issuer = fcm_oauth
    trusted = issuer.new_account(token_uri=f"{server.base_url}/token")
    forger = TokenIssuer(scope=FCM_SCOPE).new_account(token_uri="x", client_email=trusted["client_email"])
    now = int(time.time())
    claims = {
        "iss": trusted["client_email"],
        "aud": "https://oauth2.googleapis.com/token",
        "iat": now,
        "exp": now + 3600,
        "scope": FCM_SCOPE,
    }

    def grant(info: dict, **changes) -> httpx.Response:
        assertion = jwt.encode(
            crypt.RSASigner.from_service_account_info(info), {**claims, **changes}
        ).decode()
        return httpx.post(
            f"{server.base_url}/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        )

    assert grant(forger).json()["error_description"] == "Invalid JWT Signature."  # same iss, other key
    assert "scope" in grant(trusted, scope=DATAMANAGER_SCOPE).json()["error_description"]
    assert "short-lived" in grant(trusted, exp=now + 7200).json()["error_description"]
    assert "aud" in grant(trusted, aud=f"{server.base_url}/token").json()["error_description"]
    ok = grant(trusted)
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    send = f"{server.base_url}/v1/projects/sen-app/messages:send"
    message = {"message": {"token": "t1", "data": {}}}
    good = httpx.post(send, json=message, headers={"Authorization": f"Bearer {ok.json()['access_token']}"})
    assert good.status_code == 200
    assert httpx.post(send, json=message, headers={"Authorization": "Bearer ya29.guess"}).status_code == 401
