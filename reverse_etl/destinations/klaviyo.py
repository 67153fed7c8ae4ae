"""Klaviyo: bulk profile import into a list (JSON:API), and removal from the list.

POST /api/profile-bulk-import-jobs with up to 10,000 profiles and 5 MB per request (a batch over 5 MB
is split), headers `Authorization: Klaviyo-API-Key ...` and `revision`. The import is an upsert and a
missing value is left out, so a null in the warehouse never clears a value in Klaviyo. Per-row failures
are read back from the job's import-errors once it completes and recorded as rejections.
Removal (add_remove mode) looks profile ids up by email and deletes the list relationships.
429 answers carry Retry-After and are retried. List adds are not messages: they are written to the
contact ledger (with the sync's `campaign`) only when `contact_on_add` says the list triggers a send.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, ClassVar, Literal

import httpx

from reverse_etl.destinations.base import Batch, BatchDestination, BatchOutcome, ContactOnAddConfig, FieldSpec
from reverse_etl.errors import DestinationError, RetryableError
from reverse_etl.http import RequestStats, error_snippet, parse_retry_after
from reverse_etl.secrets import Secret, read_secret

FIELDS: dict[str, FieldSpec] = {
    "email": FieldSpec("email", match_key=True),
    "phone_number": FieldSpec("e164", match_key=True),
    "external_id": FieldSpec("text", match_key=True),
    "first_name": FieldSpec("text"),
    "last_name": FieldSpec("text"),
    "properties": FieldSpec("text"),  # a JSON-object column, merged with properties.<name> fields
}
PROPERTY_PREFIX = "properties."
MAX_BODY_BYTES = 5 * 1024 * 1024
LOOKUP_CHUNK = 100  # emails per profile lookup (filter=any(email,[...]))
DELETE_CHUNK = 1000
_POINTER_INDEX = re.compile(r"/profiles/data/(\d+)")
JSONAPI = "application/vnd.api+json"


class KlaviyoConfig(ContactOnAddConfig):
    type: Literal["klaviyo"]
    list_id: str
    api_key_env: str
    revision: str = "2025-01-15"
    poll_interval_s: float = 1.0
    poll_timeout_s: float = 120.0

    default_base_url: ClassVar[str] = "https://a.klaviyo.com"
    max_batch_size: ClassVar[int] = 10_000
    default_rate_per_s: ClassVar[float] = 2.5  # steady 150/min
    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert", "add_remove"})
    match_groups: ClassVar[tuple[tuple[str, ...], ...]] = (("email",), ("phone_number",), ("external_id",))
    secret_fields: ClassVar[tuple[str, ...]] = ("api_key_env",)
    channel: ClassVar[str | None] = "email"  # with contact_on_add: adding to the list triggers an email

    def check_sync(self, mode: str, mapped: frozenset[str]) -> None:
        if mode == "add_remove" and "email" not in mapped:
            raise ValueError("mapping.email: Klaviyo removal looks profiles up by email; map `email`")

    def field_spec(self, name: str) -> FieldSpec | None:
        if name.startswith(PROPERTY_PREFIX) and len(name) > len(PROPERTY_PREFIX):
            return FieldSpec("text")
        return FIELDS.get(name)

    def allowed_fields_hint(self) -> str:
        return ", ".join(FIELDS) + " (JSON object column), properties.<name>"

    def build_client(self, stats: RequestStats, sync_name: str) -> KlaviyoClient:
        return KlaviyoClient(self, stats, sync_name)


def profile_attributes(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Profile attributes with nulls left out, so they never overwrite a good value."""
    attrs: dict[str, Any] = {}
    props: dict[str, Any] = {}
    for f in fields:
        value = row.get(f)
        if value is None:
            continue
        if f == "properties":
            parsed = json.loads(value) if isinstance(value, str) else value  # ValueError: caller rejects
            if not isinstance(parsed, dict):
                raise ValueError("properties: expected a JSON object")
            props.update({k: v for k, v in parsed.items() if v is not None})
        elif f.startswith(PROPERTY_PREFIX):
            props[f[len(PROPERTY_PREFIX) :]] = value
        else:
            attrs[f] = value
    if props:
        attrs["properties"] = props
    return attrs


class KlaviyoClient(BatchDestination):
    config: KlaviyoConfig

    def __init__(self, config: KlaviyoConfig, stats: RequestStats, sync_name: str) -> None:
        super().__init__(config, stats, sync_name)
        self._key: Secret = read_secret(config.api_key_env, where="destination.api_key_env")

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Klaviyo-API-Key {self._key.reveal()}",
            "revision": self.config.revision,
            "Content-Type": JSONAPI,
            "Accept": JSONAPI,
        }

    def prepare(
        self, batch: Batch, session: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], tuple[str, ...], str]:
        return batch.rows(), batch.fields, batch.op

    def transmit(self, prepared: tuple[list[dict[str, Any]], tuple[str, ...], str]) -> BatchOutcome:
        rows, fields, op = prepared
        if op == "remove":
            self._remove(rows)
            return BatchOutcome(sent_rows=len(rows))
        outcome = BatchOutcome()
        self._import(rows, fields, outcome)
        return outcome

    # ---------------------------------------------------------------- import
    def _import(self, rows: list[dict[str, Any]], fields: tuple[str, ...], outcome: BatchOutcome) -> None:
        profiles: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        for row in rows:
            try:
                profiles.append({"type": "profile", "attributes": profile_attributes(row, fields)})
            except ValueError as exc:  # a bad JSON properties column refuses that row only
                outcome.rejected[row["__pk"]] = f"klaviyo: {exc}"
                continue
            kept.append(row)
        self._import_profiles(kept, profiles, fields, outcome)

    def _import_profiles(
        self,
        rows: list[dict[str, Any]],
        profiles: list[dict[str, Any]],
        fields: tuple[str, ...],
        outcome: BatchOutcome,
    ) -> None:
        if not rows:
            return
        body = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": profiles}},
                "relationships": {"lists": {"data": [{"type": "list", "id": self.config.list_id}]}},
            }
        }
        payload = json.dumps(body).encode()
        if len(payload) > MAX_BODY_BYTES and len(rows) > 1:
            half = len(rows) // 2
            self._import_profiles(rows[:half], profiles[:half], fields, outcome)
            self._import_profiles(rows[half:], profiles[half:], fields, outcome)
            return
        job = self.sender(type_name="klaviyo").request(
            "POST",
            "/api/profile-bulk-import-jobs",
            content=payload,
            headers=self._headers(),
            classify=_classify,
            idempotent=True,  # an upsert of the same profiles into the same list
        )
        outcome.sent_rows += len(rows)
        job_id = (job.get("data") or {}).get("id")
        if job_id:
            for index, reason in self._import_errors(str(job_id)).items():
                if 0 <= index < len(rows):
                    outcome.rejected[rows[index]["__pk"]] = f"klaviyo: {reason}"

    def _import_errors(self, job_id: str) -> dict[int, str]:
        """Errors of a finished job by profile index; empty if the job does not finish in time."""
        sender = self.sender(type_name="klaviyo")
        deadline = time.monotonic() + self.config.poll_timeout_s
        while True:
            job = sender.request(
                "GET",
                f"/api/profile-bulk-import-jobs/{job_id}",
                headers=self._headers(),
                classify=_classify,
                idempotent=True,
            )
            attrs = (job.get("data") or {}).get("attributes") or {}
            if attrs.get("status") in ("complete", "cancelled"):
                break
            if time.monotonic() >= deadline:
                return {}
            time.sleep(self.config.poll_interval_s)
        if not attrs.get("failed_count"):
            return {}
        errors: dict[int, str] = {}
        url: str | None = f"/api/profile-bulk-import-jobs/{job_id}/import-errors"
        while url:
            page = sender.request("GET", url, headers=self._headers(), classify=_classify, idempotent=True)
            for item in page.get("data") or []:
                a = item.get("attributes") or {}
                match = _POINTER_INDEX.search(str((a.get("source") or {}).get("pointer", "")))
                if match:
                    errors[int(match.group(1))] = str(a.get("detail") or a.get("title") or "import error")[
                        :200
                    ]
            url = (page.get("links") or {}).get("next")
        return errors

    # ---------------------------------------------------------------- removal
    def _remove(self, rows: list[dict[str, Any]]) -> None:
        emails = sorted({r["email"] for r in rows if r.get("email")})
        sender = self.sender(type_name="klaviyo")
        ids: list[str] = []
        for start in range(0, len(emails), LOOKUP_CHUNK):
            chunk = emails[start : start + LOOKUP_CHUNK]
            params: dict[str, str] | None = {
                "filter": f"any(email,{json.dumps(chunk)})",
                "page[size]": str(LOOKUP_CHUNK),
                "fields[profile]": "email",
            }
            url: str | None = "/api/profiles"
            while url:
                page = sender.request(
                    "GET", url, params=params, headers=self._headers(), classify=_classify, idempotent=True
                )
                ids.extend(str(item["id"]) for item in page.get("data") or [] if item.get("id"))
                url, params = (page.get("links") or {}).get("next"), None
        for start in range(0, len(ids), DELETE_CHUNK):
            body = {"data": [{"type": "profile", "id": i} for i in ids[start : start + DELETE_CHUNK]]}
            sender.request(
                "DELETE",
                f"/api/lists/{self.config.list_id}/relationships/profiles",
                content=json.dumps(body).encode(),
                headers=self._headers(),
                classify=_classify,
                idempotent=True,
            )


def _classify(response: httpx.Response) -> dict[str, Any]:
    if 200 <= response.status_code < 300:
        return response.json() if response.content else {}
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(
            f"klaviyo {error_snippet(response)}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    raise DestinationError(f"klaviyo error: {error_snippet(response)}")
