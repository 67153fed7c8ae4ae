"""The Segment HTTP Tracking API contract: write key, body limits, validation and the fields the collector stamps.

What the SDKs send (checked against segment-analytics-python, rudder-sdk-python and @segment/analytics-next):
- server SDKs post ``{"batch": [...], "sentAt": ..., "writeKey"?: ...}`` to ``/v1/batch`` with HTTP Basic
  ``writeKey:``, optionally gzip-compressed (``Content-Encoding: gzip``);
- analytics.js posts one event to ``/v1/<first letter of its type>`` (``/v1/t``, ``/v1/p``, ...) or, in batching
  mode, ``{"batch": [...], "sentAt", "writeKey"}`` to ``/v1/b``, as ``Content-Type: text/plain`` with the write key in
  the body and in Basic auth.
"""

from __future__ import annotations

import base64
import binascii
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
# analytics.js posts to /v1/<first letter of the type>.
SHORT_PATHS = {t[0]: t for t in EVENT_TYPES}


class BadRequest(ValueError):
    """The request breaks the contract: answered 400 with this reason (the SDK drops it, it does not retry)."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def decode_body(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The request body, gunzipped if needed; BadRequest when it (or its decompressed form) exceeds ``limit``."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        body = raw
    elif encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 47 if encoding != "deflate" else 15  # 47: gzip or zlib header, detected
        inflater = zlib.decompressobj(wbits=wbits)
        try:
            body = inflater.decompress(raw, limit + 1)
            if len(body) <= limit and not inflater.eof:
                body += inflater.flush()
        except zlib.error as exc:
            raise BadRequest("invalid_encoding", f"the body is not valid {encoding}: {exc}") from exc
    else:
        raise BadRequest("invalid_encoding", f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    if len(body) > limit:
        raise BadRequest(
            "payload_too_large",
            f"the request is larger than {limit // 1024} KB"
            + (" (the batch limit)" if limit == MAX_BATCH_BYTES else " (the limit of one event)"),
        )
    return body


def parse_json(body: bytes) -> dict:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("invalid_json", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest("invalid_json", "the body must be a JSON object")
    return payload


def basic_auth_key(header: str | None) -> str | None:
    """The write key of an ``Authorization: Basic base64(writeKey:)`` header."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key = decoded.split(":", 1)[0]
    return key or None


def write_key_of(authorization: str | None, header_key: str | None, payload: dict) -> str | None:
    """Basic auth first, then ``X-Write-Key``, then ``writeKey`` in the body (batch or first event)."""
    key = basic_auth_key(authorization) or (header_key or "").strip() or None
    if key:
        return key
    body_key = payload.get("writeKey")
    if not body_key and isinstance(payload.get("batch"), list) and payload["batch"]:
        first = payload["batch"][0]
        body_key = first.get("writeKey") if isinstance(first, dict) else None
    return body_key if isinstance(body_key, str) and body_key else None


def _parse_time(value: object, field: str, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest("invalid_timestamp", f"{where}: {field} must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(
            "invalid_timestamp", f"{where}: {field} is not an ISO-8601 timestamp: {value[:40]!r}"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Stamp:
    received_at: datetime
    source: str


def prepare_event(
    event: object,
    *,
    where: str,
    stamp: Stamp,
    forced_type: str | None = None,
    batch_sent_at: object = None,
    batch_context: object = None,
    batch_integrations: object = None,
) -> bytes:
    """Validate one event and return its landing line (JSON + newline). Raises BadRequest naming ``where``."""
    if not isinstance(event, dict):
        raise BadRequest("invalid_event", f"{where}: an event must be a JSON object")
    event = dict(event)
    event.pop("writeKey", None)  # keys never reach the landing zone or the warehouse
    event_type = forced_type or event.get("type")
    if event_type not in EVENT_TYPES:
        raise BadRequest(
            "invalid_type",
            f"{where}: type must be one of {', '.join(EVENT_TYPES)}, got {str(event_type)[:40]!r}",
        )
    event["type"] = event_type
    for id_field in ("userId", "anonymousId"):
        value = event.get(id_field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            event[id_field] = str(value)  # Segment accepts numeric ids and stores them as strings
    if not any(isinstance(event.get(f), str) and event[f].strip() for f in ("userId", "anonymousId")):
        raise BadRequest("missing_identifier", f"{where}: the event has neither userId nor anonymousId")
    if event_type == "track" and not (isinstance(event.get("event"), str) and event["event"].strip()):
        raise BadRequest("missing_event_name", f"{where}: a track call needs an event name")
    if event_type == "alias" and not event.get("previousId"):
        raise BadRequest("missing_previous_id", f"{where}: an alias call needs previousId")
    if event_type == "group" and not event.get("groupId"):
        raise BadRequest("missing_group_id", f"{where}: a group call needs groupId")
    if isinstance(batch_context, dict) and batch_context:
        own = event.get("context") if isinstance(event.get("context"), dict) else {}
        event["context"] = {
            **batch_context,
            **own,
        }  # the batch's context applies to each event; the event wins
    if isinstance(batch_integrations, dict) and batch_integrations and "integrations" not in event:
        event["integrations"] = batch_integrations
    message_id = event.get("messageId")
    if not (isinstance(message_id, str) and message_id.strip()):
        event["messageId"] = f"sen-{uuid.uuid4()}"

    # Clock-skew correction (Segment's): timestamp = receivedAt - (sentAt - originalTimestamp).
    original = _parse_time(event.get("originalTimestamp") or event.get("timestamp"), "timestamp", where)
    sent_at = _parse_time(event.get("sentAt") or batch_sent_at, "sentAt", where)
    received = stamp.received_at
    if original is None:
        timestamp = received
    elif sent_at is None:
        timestamp = original
    else:
        timestamp = received - (sent_at - original)
    if original is not None:
        event["originalTimestamp"] = iso(original)
    if sent_at is not None:
        event["sentAt"] = iso(sent_at)
    event["timestamp"] = iso(timestamp)
    event["receivedAt"] = iso(received)
    event["senSource"] = stamp.source  # which write key's source sent it (the key itself is not kept)
    line = orjson.dumps(event) + b"\n"
    if (
        len(line) > MAX_EVENT_BYTES + 1024
    ):  # the stamps add under 200 bytes; the client's part is checked below
        raise BadRequest("payload_too_large", f"{where}: the event is larger than 32 KB")
    return line


def event_size(event: object) -> int:
    return len(orjson.dumps(event))


def prepare_request(payload: dict, *, kind: str, stamp: Stamp) -> list[bytes]:
    """All landing lines of one request, or BadRequest for the whole request (nothing is stored then)."""
    if kind == "batch":
        batch = payload.get("batch")
        if not isinstance(batch, list):
            raise BadRequest("invalid_batch", "a batch request needs a 'batch' array of events")
        if not batch:
            return []
        lines = []
        for index, event in enumerate(batch):
            where = f"batch[{index}]"
            if event_size(event) > MAX_EVENT_BYTES:
                raise BadRequest("payload_too_large", f"{where}: the event is larger than 32 KB")
            lines.append(
                prepare_event(
                    event,
                    where=where,
                    stamp=stamp,
                    batch_sent_at=payload.get("sentAt"),
                    batch_context=payload.get("context"),
                    batch_integrations=payload.get("integrations"),
                )
            )
        return lines
    return [prepare_event(payload, where="event", stamp=stamp, forced_type=kind)]
