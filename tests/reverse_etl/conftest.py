"""Fixtures: a temp DuckDB warehouse, secrets in the environment, one stand-in per destination."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from retl_helpers import META_MAPPING, SECRETS, base_sync, sync_from

from reverse_etl.config import SyncConfig
from reverse_etl.testing.standins import (
    FcmStandin,
    GoogleStandin,
    KlaviyoStandin,
    MetaStandin,
    WebhookStandin,
    ZaloStandin,
)


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CDP_AS_OF", raising=False)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()  # in memory: state semantics are the same, no fsync per statement
    yield conn
    conn.close()


@pytest.fixture
def meta() -> Iterator[MetaStandin]:
    with MetaStandin(token="meta-SECRET-token-8f1c2e", audience_ids={"6100000000001"}) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def meta_sync(meta: MetaStandin) -> Callable[..., SyncConfig]:
    data = base_sync(
        "meta_test",
        {
            "type": "meta_custom_audiences",
            "audience_id": "6100000000001",
            "token_env": "META_TOKEN",
            "base_url": meta.base_url,
            "batch_size": 50,
        },
        META_MAPPING,
    )
    return lambda **overrides: sync_from(data, **overrides)


@pytest.fixture
def google() -> Iterator[GoogleStandin]:
    with GoogleStandin(token="ya29.google-SECRET-token-77aa", user_list_ids={"ul-1"}) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def klaviyo() -> Iterator[KlaviyoStandin]:
    with KlaviyoStandin(api_key="pk_klaviyo_SECRET_key_4411", list_ids={"LST1"}) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def fcm() -> Iterator[FcmStandin]:
    with FcmStandin(token="ya29.fcm-SECRET-token-9b9b", project_id="sen-app") as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def zalo() -> Iterator[ZaloStandin]:
    with ZaloStandin(token="zalo-SECRET-oa-token-1234", template_ids={"tpl-1"}) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def webhook() -> Iterator[WebhookStandin]:
    with WebhookStandin(secret="whsec_SECRET_hmac_5566") as server:
        yield server  # type: ignore[misc]
