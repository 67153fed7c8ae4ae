"""Issue 18, case 3 (credentials): a service-account key given base64-encoded or as a quoted JSON string
used to be taken for a file path and quoted whole (private key included) in sync.sync_runs.error, the log
and the exception. Every encoding is now read, and registered for masking before use; a value that is
none of them is never echoed."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator

import duckdb
import pytest

from reverse_etl.config import parse_sync
from reverse_etl.engine import run_sync
from reverse_etl.errors import SyncRunError
from reverse_etl.oauth import FCM_SCOPE
from reverse_etl.secrets import get_logger
from reverse_etl.testing.oauth import TokenIssuer
from reverse_etl.testing.standins import FcmStandin
from tests.reverse_etl.retl_helpers import FAST_RETRY, make_audience

ENV = "FCM_SERVICE_ACCOUNT"


@pytest.fixture
def fcm() -> Iterator[tuple[FcmStandin, TokenIssuer]]:
    issuer = TokenIssuer(scope=FCM_SCOPE)
    with FcmStandin(token=None, project_id="sen-app", oauth=issuer) as server:
        yield server, issuer  # type: ignore[misc]


def push_sync(server: FcmStandin, name: str):
    return parse_sync(
        {
            "name": name,
            "model": "audience_test",
            "primary_key": "person_id",
            "mode": "insert",
            "schedule": "0 3 * * *",
            "campaign": "reliability",
            "mapping": {"token": "push_token", "title": "display_name"},
            "destination": {
                "type": "fcm",
                "project_id": "sen-app",
                "service_account_env": ENV,
                "base_url": server.base_url,
                "retry": dict(FAST_RETRY),
                "timeout_s": 5.0,
            },
        },
        source=f"<reliability {name}>",
    )


def encodings(info: dict) -> dict[str, str]:
    text = json.dumps(info)
    return {
        "raw": text,
        "base64": base64.b64encode(text.encode()).decode(),
        "base64url": base64.urlsafe_b64encode(text.encode()).decode(),
        "json_quoted": json.dumps(text),
    }


def forbidden(info: dict, value: str) -> list[str]:
    """Every spelling of the credential that must never be written anywhere."""
    key = info["private_key"]
    body = [line for line in key.splitlines() if line and "PRIVATE KEY" not in line][:-1]  # full lines
    return [value, key, json.dumps(key)[1:-1], *body, *encodings(info).values()]


def everything_written(conn: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture) -> str:
    texts = [caplog.text, *(r.getMessage() for r in caplog.records)]
    for (table,) in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sync'"
    ).fetchall():
        texts.extend(str(row) for row in conn.execute(f'SELECT * FROM sync."{table}"').fetchall())
    return "\n".join(texts)


@pytest.mark.parametrize("form", ["raw", "base64", "base64url", "json_quoted"])
def test_every_encoding_of_a_key_works_and_never_appears(
    fcm, form: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, issuer = fcm
    info = issuer.new_account(token_uri=f"{server.base_url}/token")
    value = encodings(info)[form]
    monkeypatch.setenv(ENV, value)
    conn = duckdb.connect()
    make_audience(conn, 3)
    result = run_sync(conn, push_sync(server, f"push_{form}"))
    assert (result.status, result.sent_rows) == ("success", 3)
    # a log line or error quoting the key in any spelling is masked
    log = get_logger("reverse_etl.test")
    for leaked in forbidden(info, value):
        log.error("destination said: %s", leaked)
    blob = everything_written(conn, caplog)
    for leaked in forbidden(info, value):
        assert leaked not in blob


def damaged(info: dict) -> dict[str, str]:
    good = encodings(info)
    return {
        "base64_truncated": good["base64"][: len(good["base64"]) // 2 + 3],
        "json_quoted_broken": json.dumps(json.dumps(info)[:-40]),
        "raw_broken": json.dumps(info)[:-40],
        "pem_only": info["private_key"],
    }


@pytest.mark.parametrize("form", ["base64_truncated", "json_quoted_broken", "raw_broken", "pem_only"])
def test_a_damaged_key_fails_naming_the_variable_never_quoting_it(
    fcm, form: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, issuer = fcm
    info = issuer.new_account(token_uri=f"{server.base_url}/token")
    value = damaged(info)[form]
    monkeypatch.setenv(ENV, value)
    conn = duckdb.connect()
    make_audience(conn, 2)
    with pytest.raises(SyncRunError) as err:
        run_sync(conn, push_sync(server, f"push_{form}"))
    message = str(err.value)
    assert ENV in message
    error = conn.execute("SELECT error FROM sync.sync_runs").fetchone()[0]
    blob = "\n".join([everything_written(conn, caplog), message, repr(err.value), error])
    for leaked in [value, *forbidden(info, value)]:
        assert leaked not in blob
    assert "PRIVATE KEY" not in message and "MII" not in message
