"""Stand-in servers for every destination, one module each, enforcing each contract and keeping
destination state:

    with MetaStandin(token="t", audience_ids={"123"}) as meta:
        ... point the sync's base URL at meta.base_url ...
        assert meta.members("EMAIL") == {...}

Run one in its own process (the benchmark does, so it does not share the client's GIL):
    python -m reverse_etl.testing.standins meta --token T --audience 123
prints the base URL on stdout and serves until stdin closes. `GET /__standin/summary` returns counts.
"""

from reverse_etl.testing.standins.fcm import FcmStandin
from reverse_etl.testing.standins.google import GOOGLE_MAX_MEMBERS, GoogleStandin
from reverse_etl.testing.standins.klaviyo import KLAVIYO_MAX_BYTES, KLAVIYO_MAX_PROFILES, KlaviyoStandin
from reverse_etl.testing.standins.meta import (
    META_ALLOWED,
    META_CLEAR,
    META_MAX_ROWS,
    META_SINGLE,
    MetaStandin,
)
from reverse_etl.testing.standins.webhook import WebhookStandin
from reverse_etl.testing.standins.zalo import ZaloStandin

__all__ = [
    "GOOGLE_MAX_MEMBERS",
    "KLAVIYO_MAX_BYTES",
    "KLAVIYO_MAX_PROFILES",
    "META_ALLOWED",
    "META_CLEAR",
    "META_MAX_ROWS",
    "META_SINGLE",
    "FcmStandin",
    "GoogleStandin",
    "KlaviyoStandin",
    "MetaStandin",
    "WebhookStandin",
    "ZaloStandin",
]
