"""Zalo ZNS template messages (Vietnam).

POST /message/template with header `access_token`, body {phone: "84...", template_id, template_data,
tracking_id}. Zalo answers HTTP 200 with `error` 0 on success and a negative code otherwise; which codes
mean throttling or a bad token is not documented reliably, so both lists are configurable (defaults are
best guesses, see docs/reverse_etl.md). Any other negative code refuses that one message.

The tracking_id is the engine's message key. Delivery is at-most-once by default (an ambiguous send is
never repeated); `delivery: at_least_once` resends it with the same tracking_id, which is safe only if
the OA's Zalo endpoint de-duplicates on tracking_id (the stand-in does; verify before relying on it).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from reverse_etl.destinations.base import (
    Delivery,
    DestinationConfig,
    FieldSpec,
    MessageDestination,
    MessageOutcome,
    json_object_strings,
)
from reverse_etl.errors import AmbiguousDeliveryError, DestinationError, RetryableError
from reverse_etl.http import RequestStats, error_snippet, parse_retry_after
from reverse_etl.secrets import Secret, read_secret

DATA_PREFIX = "template_data."
FIELDS: dict[str, FieldSpec] = {
    "phone": FieldSpec("zalo_phone", match_key=True),
    "template_id": FieldSpec("text"),  # per-row template (e.g. an A/B variant), else the config's
    "template_data": FieldSpec("text"),  # a JSON-object column, merged with template_data.<key> fields
}


class ZaloConfig(DestinationConfig):
    type: Literal["zalo_zns"]
    template_id: str | None = None  # required unless `template_id` is mapped to a column
    token_env: str
    delivery: Delivery = "at_most_once"
    throttle_codes: list[int] = Field(default_factory=lambda: [-32, -100])
    auth_codes: list[int] = Field(default_factory=lambda: [-124, -216])

    kind: ClassVar[str] = "message"
    default_base_url: ClassVar[str] = "https://business.openapi.zalo.me"
    max_batch_size: ClassVar[int] = 32
    default_rate_per_s: ClassVar[float] = 20.0
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert"})
    match_groups: ClassVar[tuple[tuple[str, ...], ...]] = (("phone",),)
    secret_fields: ClassVar[tuple[str, ...]] = ("token_env",)
    channel: ClassVar[str | None] = "zalo"

    def field_spec(self, name: str) -> FieldSpec | None:
        if name.startswith(DATA_PREFIX) and len(name) > len(DATA_PREFIX):
            return FieldSpec("text")
        return FIELDS.get(name)

    def allowed_fields_hint(self) -> str:
        return "phone, template_id, template_data (JSON object column), template_data.<key>"

    def check_sync(self, mode: str, mapped: frozenset[str]) -> None:
        if not self.template_id and "template_id" not in mapped:
            raise ValueError("destination.template_id: set it, or map `template_id` to a column")

    def build_client(self, stats: RequestStats, sync_name: str) -> ZaloClient:
        return ZaloClient(self, stats, sync_name)


class ZaloClient(MessageDestination):
    config: ZaloConfig

    def __init__(self, config: ZaloConfig, stats: RequestStats, sync_name: str) -> None:
        super().__init__(config, stats, sync_name)
        self._token: Secret = read_secret(config.token_env, where="destination.token_env")
        self.delivery = config.delivery

    def build_body(self, row: dict[str, Any], message_key: str) -> dict[str, Any]:
        data = json_object_strings(row.get("template_data"), field="template_data")
        data.update(
            {
                key[len(DATA_PREFIX) :]: str(value)
                for key, value in row.items()
                if key.startswith(DATA_PREFIX) and value is not None
            }
        )
        template_id = row.get("template_id") or self.config.template_id
        if not template_id:
            raise ValueError("template_id: none on the row and none in the config")
        return {
            "phone": row["phone"],
            "template_id": template_id,
            "template_data": data,
            "tracking_id": message_key,
        }

    def send_message(self, row: dict[str, Any], message_key: str) -> MessageOutcome:
        try:
            body = self.build_body(row, message_key)
        except ValueError as exc:
            return MessageOutcome("rejected", reason=f"zalo: {exc}")
        try:
            result = self.sender(type_name="zalo").request(
                "POST",
                "/message/template",
                content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"access_token": self._token.reveal(), "Content-Type": "application/json"},
                classify=self._classify,
                idempotent=self.delivery == "at_least_once",
            )
        except AmbiguousDeliveryError as exc:
            return MessageOutcome("unknown", reason=str(exc)[:300])
        return result

    def _classify(self, response: httpx.Response) -> MessageOutcome:
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(
                f"zalo {error_snippet(response)}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        try:
            payload = response.json()
        except ValueError as exc:
            raise DestinationError(f"zalo non-JSON answer: {error_snippet(response)}") from exc
        code = int(payload.get("error", -1)) if isinstance(payload, dict) else -1
        if response.status_code == 200 and code == 0:
            msg_id = ((payload.get("data") or {}).get("msg_id")) if isinstance(payload, dict) else None
            return MessageOutcome("sent", message_id=str(msg_id) if msg_id else None)
        message = str(payload.get("message", ""))[:200] if isinstance(payload, dict) else ""
        if code in self.config.throttle_codes:
            raise RetryableError(f"zalo throttled ({code}): {message}")
        if code in self.config.auth_codes or response.status_code in (401, 403):
            raise DestinationError(f"zalo authentication error ({code}): {message}")
        return MessageOutcome("rejected", reason=f"zalo: error {code} {message}".strip())
