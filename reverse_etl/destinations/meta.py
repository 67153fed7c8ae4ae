"""Meta (Facebook) Custom Audiences through the Graph API.

add: POST /{version}/{audience_id}/users, remove: DELETE on the same path, replace-all:
POST /{version}/{audience_id}/usersreplace. Every call is part of a session (session_id, batch_seq from 1,
last_batch_flag on the last request). Identifiers are SHA-256 of the Meta-normalized value, built in the
warehouse; EXTERN_ID and MADID go in clear. At most 10,000 rows per request.

Mirror mode removes only members this sync created. Meta never says whether an added hash was already in
the audience, so "created" means: not already put there by another Sen sync writing to the same audience
(sync.sync_registry.destination_key); members uploaded outside Sen cannot be told apart.

Throttling is signalled by error codes 4, 17, 80003 (and code 2 is transient): they are retried after
the wait Meta announces in X-Business-Use-Case-Usage (estimated_time_to_regain_access, minutes) or
Retry-After, else exponential backoff. Meta reports invalid rows only as a count plus a few samples:
rows matching a sample are recorded as rejected, the rest of the count is reported as unattributed.
"""

from __future__ import annotations

import json
import random
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from reverse_etl.destinations.base import (
    Batch,
    BatchDestination,
    BatchOutcome,
    DestinationConfig,
    FieldSpec,
)
from reverse_etl.errors import DestinationError, RetryableError
from reverse_etl.http import RequestStats, error_snippet, parse_retry_after
from reverse_etl.secrets import Secret, read_secret
from reverse_etl.state_schema import other_states, state_columns

THROTTLE_CODES = frozenset({4, 17, 80003, 613})
TRANSIENT_CODES = frozenset({1, 2})

FIELDS: dict[str, FieldSpec] = {
    "EMAIL": FieldSpec("meta_email_sha256", match_key=True),
    "PHONE": FieldSpec("meta_phone_sha256", match_key=True),
    "FN": FieldSpec("meta_name_sha256"),
    "LN": FieldSpec("meta_name_sha256"),
    "COUNTRY": FieldSpec("meta_country_sha256"),
    "CT": FieldSpec("meta_compact_sha256"),
    "ST": FieldSpec("meta_compact_sha256"),
    "ZIP": FieldSpec("meta_compact_sha256"),
    "GEN": FieldSpec("meta_gender_sha256"),
    "EXTERN_ID": FieldSpec("text", match_key=True),
    "MADID": FieldSpec("text", match_key=True),
}
MATCH_FIELDS = tuple(name for name, spec in FIELDS.items() if spec.match_key)
HASHED_FIELDS = tuple(name for name, spec in FIELDS.items() if spec.transform.endswith("_sha256"))


class MetaConfig(DestinationConfig):
    type: Literal["meta_custom_audiences"]
    audience_id: str
    # Marketing API version: the newest in Meta's version history when this was checked (v27.0, released
    # 2026-11-04; v24.0 expired 2026-11-10, v21.0 long before). A version lives ~1 year after its successor
    # ships, so bump it (or set `api_version:` per sync) when Meta announces the next one.
    api_version: str = Field("v27.0", pattern=r"^v[0-9]+\.[0-9]$")
    token_env: str

    default_base_url: ClassVar[str] = "https://graph.facebook.com"
    max_batch_size: ClassVar[int] = 10_000
    default_rate_per_s: ClassVar[float] = 5.0
    supported_modes: ClassVar[frozenset[str]] = frozenset({"add_remove", "upsert", "replace", "mirror"})
    match_groups: ClassVar[tuple[tuple[str, ...], ...]] = (("EMAIL",), ("PHONE",), ("EXTERN_ID",), ("MADID",))
    secret_fields: ClassVar[tuple[str, ...]] = ("token_env",)
    ad_audience: ClassVar[bool] = True
    max_in_flight: int = Field(4, ge=1, le=16)

    def field_spec(self, name: str) -> FieldSpec | None:
        return FIELDS.get(name)

    def allowed_fields_hint(self) -> str:
        return ", ".join(FIELDS)

    def destination_key(self) -> str:
        return f"meta_custom_audiences:{self.audience_id}"

    def build_client(self, stats: RequestStats, sync_name: str) -> MetaAudienceClient:
        return MetaAudienceClient(self, stats, sync_name)


class MetaAudienceClient(BatchDestination):
    config: MetaConfig

    def __init__(self, config: MetaConfig, stats: RequestStats, sync_name: str) -> None:
        super().__init__(config, stats, sync_name)
        self._token: Secret = read_secret(config.token_env, where="destination.token_env")
        self._others: tuple[list[str], list[set[str]]] | None = None  # other syncs' state, same audience
        self._created: dict[int, dict[str, bool]] = {}  # mirror: batch -> {pk: created by this sync}

    def begin_group(self, group: str, total_rows: int, batches: int, lanes: int) -> list[dict[str, Any]]:
        # one session per lane (each lane sends in batch_seq order); ids are chosen by the caller
        per_lane = -(-total_rows // lanes)
        return [
            {"session_id": random.getrandbits(62) + 1, "estimated_num_total": per_lane} for _ in range(lanes)
        ]

    def _path(self, op: str) -> tuple[str, str]:
        base = f"/{self.config.api_version}/{self.config.audience_id}"
        if op == "replace":
            return "POST", f"{base}/usersreplace"
        if op == "remove":
            return "DELETE", f"{base}/users"
        return "POST", f"{base}/users"

    def _shared(self, batch: Batch) -> set[str]:
        """Rows of the batch whose identifier another Sen sync already holds in this audience."""
        if self._others is None:
            tables = other_states(batch.conn, self.config.destination_key(), self.sync_name)
            self._others = (tables, [state_columns(batch.conn, t) for t in tables])
        tables, columns = self._others
        match = tuple(f for f in batch.fields if f in MATCH_FIELDS)
        return batch.pks_shared_with(tables, match, columns) if tables else set()

    def prepare(self, batch: Batch, session: dict[str, Any]) -> tuple[str, str, bytes, int]:
        schema = list(batch.fields)
        exclude: list[str] = []
        if self.sync_mode == "mirror":
            # Meta never says whether an added hash was already a member, so "created by this sync" is
            # what Sen knows: not already put in this audience by another sync. Removing such a shared
            # identifier would take another sync's member out, so it is never sent for removal.
            shared = self._shared(batch)
            if batch.op == "upsert":
                self._created[batch.index] = {pk: pk not in shared for pk in batch.pks()}
            elif batch.op == "remove":
                exclude = sorted(shared)
        data_json, n_rows = batch.json_rows_utf8(batch.fields, exclude=exclude)
        session_obj = {
            "session_id": session["session_id"],
            "batch_seq": batch.seq,
            "last_batch_flag": batch.is_last,
            "estimated_num_total": session["estimated_num_total"],
        }
        # assembled as bytes so the (large) data array built in SQL is never parsed or re-encoded in Python
        body = b"".join(
            [
                b'{"payload":{"schema":',
                json.dumps(schema).encode(),
                b',"data":',
                data_json,
                b'},"session":',
                json.dumps(session_obj).encode(),
                b',"access_token":',
                json.dumps(self._token.reveal()).encode(),
                b"}",
            ]
        )
        method, path = self._path(batch.op)
        return method, path, body, n_rows

    def transmit(self, prepared: tuple[str, str, bytes, int]) -> dict[str, Any]:
        method, path, body, _ = prepared
        return self.sender(type_name="meta").request(
            method,
            path,
            content=body,
            headers={"Content-Type": "application/json"},
            classify=_classify,
            idempotent=True,  # audience membership is a set: a duplicate add or remove changes nothing
        )

    def expected_outcome(self, batch: Batch, prepared: tuple[str, str, bytes, int]) -> BatchOutcome:
        created = (
            self._created.get(batch.index) if batch.op == "upsert" and self.sync_mode == "mirror" else None
        )
        return BatchOutcome(sent_rows=prepared[3], created=created)

    def finish(self, batch: Batch, prepared: tuple[str, str, bytes, int], answer: Any) -> BatchOutcome:
        outcome = BatchOutcome(sent_rows=prepared[3])
        if batch.op == "upsert" and self.sync_mode == "mirror":
            outcome.created = self._created.pop(batch.index, None)
        invalid = int(answer.get("num_invalid_entries") or 0)
        if invalid:
            samples = answer.get("invalid_entry_samples") or {}
            sample_values = list(samples) if isinstance(samples, (dict, list)) else []
            hashed = tuple(f for f in batch.fields if f in HASHED_FIELDS or f in ("EXTERN_ID", "MADID"))
            for pk in batch.pks_where_any(hashed, [str(v) for v in sample_values]):
                reason = "meta: invalid entry"
                if isinstance(samples, dict):
                    reason = f"meta: invalid entry ({_sample_reason(samples)})"
                outcome.rejected[pk] = reason
            outcome.unattributed_invalid = max(0, invalid - len(outcome.rejected))
        return outcome


def _sample_reason(samples: dict[str, Any]) -> str:
    reasons = sorted({str(v) for v in samples.values() if v})
    return "; ".join(reasons)[:200] or "unspecified"


def _classify(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code == 200 and not error:
        return body
    code = error.get("code") if isinstance(error, dict) else None
    if code in THROTTLE_CODES or code in TRANSIENT_CODES or response.status_code in (429, 500, 502, 503, 504):
        raise RetryableError(
            f"meta throttled/transient (code {code}): {error_snippet(response)}",
            retry_after=_meta_retry_after(response),
        )
    if isinstance(error, dict):
        raise DestinationError(
            f"meta error code {code} subcode {error.get('error_subcode')}: {str(error.get('message'))[:200]}"
        )
    raise DestinationError(f"meta unexpected response: {error_snippet(response)}")


def _meta_retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait: Retry-After, else the largest estimated_time_to_regain_access (minutes)."""
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    usage = response.headers.get("X-Business-Use-Case-Usage")
    if not usage:
        return None
    try:
        parsed = json.loads(usage)
    except ValueError:
        return None
    minutes = [
        float(entry.get("estimated_time_to_regain_access") or 0)
        for entries in (parsed.values() if isinstance(parsed, dict) else [])
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
    ]
    return max(minutes) * 60 if minutes and max(minutes) > 0 else None
