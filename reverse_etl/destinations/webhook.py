"""A generic webhook: JSON batches, signed with HMAC-SHA256.

Each request is `{"sync", "action": "upsert"|"delete", "records": [{"key", "fields"}]}`. Headers:
`X-Sen-Timestamp` (unix seconds) and `X-Sen-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`
with the secret read from the environment variable named by `secret_env`, plus an `Idempotency-Key`
(a digest of the body) so a receiver can drop a batch it already applied.

The receiver may answer `{"results": [{"key", "status": "created"|"updated"|"deleted"|"rejected",
"reason"}]}`: rejected records are recorded as rejections and, in mirror mode, only records the receiver
said this sync created are ever deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, model_validator

from reverse_etl.destinations.base import (
    Batch,
    BatchDestination,
    BatchOutcome,
    ContactOnAddConfig,
    FieldSpec,
    MessagingChannel,
)
from reverse_etl.errors import DestinationError, RetryableError
from reverse_etl.http import RequestStats, error_snippet, parse_retry_after
from reverse_etl.secrets import Secret, read_secret

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookConfig(ContactOnAddConfig):
    type: Literal["webhook"]
    path: str = "/"
    secret_env: str
    signature_header: str = "X-Sen-Signature"
    timestamp_header: str = "X-Sen-Timestamp"
    extra_headers: dict[str, str] = Field(default_factory=dict)
    # contact_on_add (ContactOnAddConfig): a messaging tool behind the webhook sends when a record is added
    contact_channel: MessagingChannel | None = None

    max_batch_size: ClassVar[int] = 10_000
    default_rate_per_s: ClassVar[float] = 20.0
    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert", "add_remove", "mirror"})
    allow_custom_transforms: ClassVar[bool] = True
    secret_fields: ClassVar[tuple[str, ...]] = ("secret_env",)

    @model_validator(mode="after")
    def _contact_channel(self) -> WebhookConfig:
        if self.contact_on_add and self.contact_channel is None:
            raise ValueError("contact_channel: required with contact_on_add (email, push, sms or zalo)")
        if self.contact_channel is not None and not self.contact_on_add:
            raise ValueError("contact_channel: only used with contact_on_add: true")
        return self

    def ledger_channel(self) -> str | None:
        return self.contact_channel if self.contact_on_add else None

    def field_spec(self, name: str) -> FieldSpec | None:
        return FieldSpec("text") if _FIELD_NAME.fullmatch(name) else None

    def allowed_fields_hint(self) -> str:
        return "any name of letters, digits, '_', '.', '-'"

    def effective_batch_size(self) -> int:
        return min(self.batch_size or 500, self.max_batch_size)

    def build_client(self, stats: RequestStats, sync_name: str) -> WebhookClient:
        return WebhookClient(self, stats, sync_name)


class WebhookClient(BatchDestination):
    config: WebhookConfig

    def __init__(self, config: WebhookConfig, stats: RequestStats, sync_name: str) -> None:
        super().__init__(config, stats, sync_name)
        self._secret: Secret = read_secret(config.secret_env, where="destination.secret_env")

    def expected_outcome(self, batch: Batch, prepared: Any) -> BatchOutcome | None:
        return None  # the receiver's answer may say which rows it created

    def prepare(
        self, batch: Batch, session: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], tuple[str, ...], str]:
        return batch.rows(), batch.fields, batch.op

    def transmit(self, prepared: tuple[list[dict[str, Any]], tuple[str, ...], str]) -> BatchOutcome:
        rows, fields, op = prepared
        records = [{"key": r["__pk"], "fields": {f: r.get(f) for f in fields}} for r in rows]
        action = "delete" if op == "remove" else "upsert"
        body = json.dumps({"sync": self.sync_name, "action": action, "records": records}).encode()
        timestamp = str(int(time.time()))
        headers = {
            **self.config.extra_headers,
            "Content-Type": "application/json",
            "Idempotency-Key": hashlib.sha256(body).hexdigest()[:32],
            self.config.timestamp_header: timestamp,
            self.config.signature_header: sign(self._secret.reveal(), timestamp, body),
        }
        result = self.sender(type_name="webhook").request(
            "POST", self.config.path, content=body, headers=headers, classify=_classify, idempotent=True
        )
        outcome = BatchOutcome(sent_rows=len(rows))
        results = result.get("results") if isinstance(result, dict) else None
        if isinstance(results, list):
            known = {r["__pk"] for r in rows}
            outcome.created = {}
            for item in results:
                if not isinstance(item, dict) or str(item.get("key")) not in known:
                    continue
                key, status = str(item["key"]), item.get("status")
                if status == "rejected":
                    outcome.rejected[key] = f"webhook: {str(item.get('reason') or 'rejected')[:200]}"
                elif status in ("created", "updated"):
                    outcome.created[key] = status == "created"
        return outcome


def _classify(response: httpx.Response) -> Any:
    if 200 <= response.status_code < 300:
        try:
            return response.json() if response.content else {}
        except ValueError:
            return {}
    if response.status_code in (408, 425, 429) or response.status_code >= 500:
        raise RetryableError(
            f"webhook {error_snippet(response)}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    raise DestinationError(f"webhook refused the batch: {error_snippet(response)}")
