"""Helpers shared by the reverse-ETL tests: audience tables, sync definitions, secrets."""

from __future__ import annotations

import copy
from typing import Any

import duckdb

from reverse_etl.config import SyncConfig, parse_sync

SECRETS = {
    "META_TOKEN": "meta-SECRET-token-8f1c2e",
    "GOOGLE_TOKEN": "ya29.google-SECRET-token-77aa",
    "KLAVIYO_KEY": "pk_klaviyo_SECRET_key_4411",
    "FCM_TOKEN": "ya29.fcm-SECRET-token-9b9b",
    "ZALO_TOKEN": "zalo-SECRET-oa-token-1234",
    "HOOK_SECRET": "whsec_SECRET_hmac_5566",
}
FAST_RETRY = {"max_attempts": 6, "initial_backoff_s": 0.005, "max_backoff_s": 0.05, "jitter_s": 0.005}
META_MAPPING = {
    "EMAIL": "email",
    "PHONE": "phone",
    "FN": "first_name",
    "LN": "last_name",
    "COUNTRY": "country",
}


def make_audience(
    conn: duckdb.DuckDBPyConnection, n: int, table: str = "audience_test", start: int = 0
) -> None:
    """n people with email, E.164 or national phones, Vietnamese names, push tokens."""
    conn.execute(
        f"""CREATE OR REPLACE TABLE {table} AS
        SELECT 'p' || lpad(i::VARCHAR, 6, '0') AS person_id,
               'User.' || i || '@Example.com' AS email,
               CASE WHEN i % 4 = 0 THEN '09' || lpad((12000000 + i)::VARCHAR, 8, '0')
                    ELSE '+849' || lpad((12000000 + i)::VARCHAR, 8, '0') END AS phone,
               'Nguyễn' AS first_name, 'Văn ' || i AS last_name, 'VN' AS country,
               '70000' AS postal_code,
               'tok-' || i AS push_token,
               'Khách ' || i AS display_name
        FROM range({start}, {start} + {n}) r(i)"""
    )


def base_sync(
    name: str, destination: dict[str, Any], mapping: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "model": extra.pop("model", "audience_test"),
        "primary_key": "person_id",
        "mode": extra.pop("mode", "add_remove"),
        "schedule": "0 3 * * *",
        "mapping": mapping,
        "destination": {"retry": dict(FAST_RETRY), "timeout_s": 2.0, **destination},
        **extra,
    }


def sync_from(data: dict[str, Any], **overrides: Any) -> SyncConfig:
    data = copy.deepcopy(data)
    for key, value in overrides.items():
        if key == "destination":
            data["destination"].update(value)
        else:
            data[key] = value
    return parse_sync(data, source=f"<test {data['name']}>")
