"""An audience with phones and no email at all (a shop whose customers give only a phone) syncs to Google."""

from __future__ import annotations

import hashlib

import pytest
from retl_helpers import base_sync, make_audience, sync_from

from reverse_etl.engine import run_sync
from reverse_etl.testing.standins import GoogleStandin

MAPPING = {"email": "email", "phone": "phone", "first_name": "first_name", "last_name": "last_name"}


@pytest.fixture
def google_sync(google: GoogleStandin):
    data = base_sync(
        "google_phone_only",
        {
            "type": "google_customer_match",
            "operating_account_id": "123",
            "product_destination_id": "ul-1",
            "token_env": "GOOGLE_TOKEN",
            "base_url": google.base_url,
        },
        MAPPING,
    )
    return lambda **o: sync_from(data, **o)


@pytest.mark.parametrize("dry_run", [True, False])
def test_phone_only_audience_syncs_to_google(warehouse, google: GoogleStandin, google_sync, dry_run) -> None:
    make_audience(warehouse, 12)
    # Every email empty: DuckDB's statistics then know the column is all NULL, which used to crash the plan.
    warehouse.execute("UPDATE audience_test SET email = NULL")
    result = run_sync(warehouse, google_sync(), dry_run=dry_run)
    assert result.status == "success"
    assert (result.added, result.rejected) == (12, 0)
    if dry_run:
        assert google.phones.get("ul-1", set()) == set()
    else:
        assert result.sent_rows == 12
        assert hashlib.sha256(b"+84912000001").hexdigest() in google.phones["ul-1"]
        assert not google.emails.get("ul-1")
