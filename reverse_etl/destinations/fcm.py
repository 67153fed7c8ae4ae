"""Firebase Cloud Messaging HTTP v1: one push message per device token.

POST /v1/projects/{project}/messages:send with an OAuth2 bearer token: read from an environment variable,
or minted from a service-account key with google-auth and refreshed before it expires (reverse_etl/oauth.py). Data values are strings and the
notification + data payload must stay within 4,096 bytes, checked before sending.

FCM has no idempotency key, so delivery is at-most-once by default: a request that may have been
processed (timeout or dropped connection after sending) is never resent. Every message carries
`sen_message_key` in its data so an app can also drop duplicates when a sync opts into at-least-once.
An UNREGISTERED answer marks the token dead (sync.dead_push_tokens); audience models exclude it. So does
an INVALID_ARGUMENT that names no message field (FCM's "The registration token is not a valid FCM
registration token" carries only an FcmError detail, while a bad message field comes with a
google.rpc.BadRequest field violation): the message was valid (size and data types are checked here
before sending), so the token is what FCM refused, and it would be refused on every later run.
"""

from __future__ import annotations

import json
from string import Template
from typing import Any, ClassVar, Literal

import httpx
from pydantic import model_validator

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
from reverse_etl.oauth import FCM_SCOPE, bearer_auth, check_one_credential

MAX_PAYLOAD_BYTES = 4096
DATA_PREFIX = "data."
FIELDS: dict[str, FieldSpec] = {
    "token": FieldSpec("text", match_key=True),
    "title": FieldSpec("text"),
    "body": FieldSpec("text"),
    "data": FieldSpec("text"),  # a JSON-object column (e.g. an audience's `properties`): merged into data
}
# per-token answers: the message was refused, nothing to retry in this run
REJECT_CODES = frozenset({"INVALID_ARGUMENT", "SENDER_ID_MISMATCH", "UNREGISTERED", "NOT_FOUND"})
RETRY_CODES = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED"})


class FcmConfig(DestinationConfig):
    type: Literal["fcm"]
    project_id: str
    token_env: str | None = None  # an OAuth2 access token minted elsewhere, or:
    service_account_env: str | None = None  # a service-account JSON key (content or path): tokens minted here
    title_template: str | None = None  # string.Template; $name refers to a mapped data.<name> field
    body_template: str | None = None
    delivery: Delivery = "at_most_once"

    kind: ClassVar[str] = "message"
    default_base_url: ClassVar[str] = "https://fcm.googleapis.com"
    max_batch_size: ClassVar[int] = 64  # messages in flight at once (one request each)
    default_rate_per_s: ClassVar[float] = 50.0
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert"})
    match_groups: ClassVar[tuple[tuple[str, ...], ...]] = (("token",),)
    secret_fields: ClassVar[tuple[str, ...]] = ("token_env", "service_account_env")
    channel: ClassVar[str | None] = "push"

    @model_validator(mode="after")
    def _templates_parse(self) -> FcmConfig:
        check_one_credential(self.token_env, self.service_account_env)
        for name in ("title_template", "body_template"):
            text = getattr(self, name)
            if text is not None and not Template(text).is_valid():
                raise ValueError(f"{name} is not a valid template (use $name or ${{name}})")
        return self

    def check_sync(self, mode: str, mapped: frozenset[str]) -> None:
        data_keys = {k[len(DATA_PREFIX) :] for k in mapped if k.startswith(DATA_PREFIX)}
        missing = self.template_names() - data_keys - mapped
        if missing:
            raise ValueError(f"destination templates use {sorted(missing)}; map them as data.<name> fields")

    def template_names(self) -> set[str]:
        names: set[str] = set()
        for text in (self.title_template, self.body_template):
            if text:
                names.update(Template(text).get_identifiers())
        return names

    def field_spec(self, name: str) -> FieldSpec | None:
        if name.startswith(DATA_PREFIX) and len(name) > len(DATA_PREFIX):
            return FieldSpec("text")
        return FIELDS.get(name)

    def allowed_fields_hint(self) -> str:
        return "token, title, body, data (JSON object column), data.<key>"

    def extra_rejections(self, field_sql: dict[str, str]) -> list[tuple[str, str]]:
        token = field_sql.get("token")
        if token is None:
            return []
        return [(f"{token} IN (SELECT token FROM sync.dead_push_tokens)", "fcm: push token is unregistered")]

    def build_client(self, stats: RequestStats, sync_name: str) -> FcmClient:
        return FcmClient(self, stats, sync_name)


def fcm_payload_size(message: dict[str, Any]) -> int:
    """Bytes of the notification + data payload, the part FCM limits to 4,096."""
    part = {k: message[k] for k in ("notification", "data") if k in message}
    return len(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


class FcmClient(MessageDestination):
    config: FcmConfig

    def __init__(self, config: FcmConfig, stats: RequestStats, sync_name: str) -> None:
        super().__init__(config, stats, sync_name)
        self._auth = bearer_auth(
            token_env=config.token_env, service_account_env=config.service_account_env, scopes=[FCM_SCOPE]
        )
        self.delivery = config.delivery

    def build_message(self, row: dict[str, Any], message_key: str) -> dict[str, Any]:
        data = json_object_strings(row.get("data"), field="data")
        data.update(
            {
                key[len(DATA_PREFIX) :]: str(value)
                for key, value in row.items()
                if key.startswith(DATA_PREFIX) and value is not None
            }
        )
        values = {**data, **{k: v for k, v in row.items() if not k.startswith("__") and v is not None}}
        title = row.get("title") or (
            Template(self.config.title_template).safe_substitute(values)
            if self.config.title_template
            else None
        )
        body = row.get("body") or (
            Template(self.config.body_template).safe_substitute(values) if self.config.body_template else None
        )
        data["sen_message_key"] = message_key
        message: dict[str, Any] = {"token": row["token"], "data": data}
        notification = {k: v for k, v in (("title", title), ("body", body)) if v}
        if notification:
            message["notification"] = notification
        return message

    def send_message(self, row: dict[str, Any], message_key: str) -> MessageOutcome:
        try:
            message = self.build_message(row, message_key)
        except ValueError as exc:
            return MessageOutcome("rejected", reason=f"fcm: {exc}")
        size = fcm_payload_size(message)
        if size > MAX_PAYLOAD_BYTES:
            return MessageOutcome("rejected", reason=f"fcm: payload {size} bytes exceeds {MAX_PAYLOAD_BYTES}")
        try:
            result = self.sender(type_name="fcm").request(
                "POST",
                f"/v1/projects/{self.config.project_id}/messages:send",
                content=json.dumps({"message": message}).encode(),
                headers={"Content-Type": "application/json"},
                auth=self._auth,
                classify=_classify,
                idempotent=self.delivery == "at_least_once",
            )
        except AmbiguousDeliveryError as exc:
            return MessageOutcome("unknown", reason=str(exc)[:300])
        if isinstance(result, MessageOutcome):
            if result.dead_token == _THIS_TOKEN:
                result.dead_token = row["token"]
            return result
        return MessageOutcome("sent", message_id=str(result.get("name", "")))


_THIS_TOKEN = "\x00token"  # placeholder: _classify does not see the row; send_message fills the token in


def _message_fields_named(error: dict[str, Any]) -> list[str]:
    """Fields of the message (other than its token) that a google.rpc.BadRequest detail says are invalid."""
    fields = []
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.BadRequest"):
            for violation in detail.get("fieldViolations") or []:
                field = str(violation.get("field", ""))
                if field and field != "message.token":
                    fields.append(field)
    return fields


def _error_code(error: dict[str, Any]) -> str | None:
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return error.get("status")


def _classify(response: httpx.Response) -> Any:
    if response.status_code == 200:
        return response.json()
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = _error_code(error) if isinstance(error, dict) else None
    if response.status_code in (429, 500, 502, 503, 504) or code in RETRY_CODES:
        raise RetryableError(
            f"fcm {code or response.status_code}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if code == "UNREGISTERED" or (code == "INVALID_ARGUMENT" and not _message_fields_named(error)):
        reason = (
            "UNREGISTERED" if code == "UNREGISTERED" else "INVALID_ARGUMENT (registration token not valid)"
        )
        return MessageOutcome("rejected", reason=f"fcm: {reason}", dead_token=_THIS_TOKEN)
    if code in REJECT_CODES or response.status_code in (400, 404):
        return MessageOutcome("rejected", reason=f"fcm: {code or response.status_code}")
    raise DestinationError(f"fcm error {code}: {error_snippet(response)}")
