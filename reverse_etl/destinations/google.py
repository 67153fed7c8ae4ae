"""Google Customer Match through the Data Manager API.

POST /v1/audienceMembers:ingest (add) and /v1/audienceMembers:remove, at most 10,000 members per request,
OAuth2 bearer token (fixed, or minted from a service account: reverse_etl/oauth.py). Email and phone are SHA-256 (hex) of the Google-normalized value (gmail rule, E.164
with '+'); given/family names hashed; region code and postal code in clear, and an address identifier is
sent only when all four parts are present. Consent (adUserData / adPersonalization) comes from the sync
config for the request, and optionally per member from mapped columns.

Consent values are the ConsentStatus enum, `CONSENT_GRANTED` / `CONSENT_DENIED` (Data Manager reference,
Consent; the bare `GRANTED` / `DENIED` of earlier versions of this client are refused by the API).

Google processes ingests and removals asynchronously: a 200 with a `requestId` only means the request was
accepted for processing. Each requestId is kept and, once the group is sent, read back with
`GET /v1/requestStatus:retrieve` (polled until no longer PROCESSING, at most `request_status_wait_s`): a
FAILED request's members are taken back out of state and recorded as rejections (the next run resends
them); PARTIAL_SUCCESS counts (errorInfo.errorCounts) are added to `unattributed_invalid`, since the status
names no record.

Replace mode (the whole list becomes the audience): note T = now - replace_clock_margin_s, ingest every
member, wait until Google has processed every ingest, then `audienceMembers:removeAll` with
removeAsOfTime = T drops whoever was not uploaded again. If an ingest failed or is still processing at the
deadline, removeAll is not sent (it would drop members whose upload has not landed) and the run fails.

A 400 whose BadRequest field violations name `audience_members[i]` rejects those members only: they are
recorded as rejected and the rest of the batch is sent again, so one bad row never fails a batch.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, model_validator

from reverse_etl.destinations.base import Batch, BatchDestination, BatchOutcome, DestinationConfig, FieldSpec
from reverse_etl.errors import DestinationError, RetryableError
from reverse_etl.http import RequestStats, error_snippet, parse_retry_after
from reverse_etl.oauth import DATAMANAGER_SCOPE, bearer_auth, check_one_credential
from reverse_etl.secrets import get_logger

log = get_logger("reverse_etl.google")

FIELDS: dict[str, FieldSpec] = {
    "email": FieldSpec("google_email_sha256", match_key=True),
    "phone": FieldSpec("google_phone_sha256", match_key=True),
    "first_name": FieldSpec("google_name_sha256"),
    "last_name": FieldSpec("google_name_sha256"),
    "country": FieldSpec("region_code"),
    "postal_code": FieldSpec("text"),
    "consent_ad_user_data": FieldSpec("consent_status"),
    "consent_ad_personalization": FieldSpec("consent_status"),
}
_MEMBER_INDEX = re.compile(r"audience_?[mM]embers\[(\d+)\]")
Consent = Literal["CONSENT_GRANTED", "CONSENT_DENIED"]


class GoogleConfig(DestinationConfig):
    type: Literal["google_customer_match"]
    operating_account_id: str
    operating_account_type: str = "GOOGLE_ADS"
    login_account_id: str | None = None
    login_account_type: str | None = None
    product_destination_id: str  # the Customer Match user list id
    token_env: str | None = None  # an OAuth2 access token minted elsewhere, or:
    service_account_env: str | None = None  # a service-account JSON key (content or path): tokens minted here
    ad_user_data: Consent = "CONSENT_GRANTED"
    ad_personalization: Consent = "CONSENT_GRANTED"
    terms_of_service_accepted: bool = True
    validate_only: bool = False

    default_base_url: ClassVar[str] = "https://datamanager.googleapis.com"
    max_batch_size: ClassVar[int] = 10_000
    default_rate_per_s: ClassVar[float] = 10.0
    supported_modes: ClassVar[frozenset[str]] = frozenset({"add_remove", "upsert", "replace"})
    # replace: members uploaded before (start of the ingest - this margin) are removed; the margin keeps a
    # client clock running ahead of Google's from removing members this run just uploaded
    replace_clock_margin_s: float = Field(300.0, ge=0, le=86_400)
    max_in_flight: int = Field(4, ge=1, le=16)  # Google suggests up to 10 concurrent requests
    # how long the run waits for Google to finish processing its requests, and how often it asks
    request_status_wait_s: float = Field(120.0, ge=0, le=3600)
    request_status_poll_s: float = Field(2.0, gt=0, le=60)
    match_groups: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("email",),
        ("phone",),
        ("first_name", "last_name", "country", "postal_code"),
    )
    secret_fields: ClassVar[tuple[str, ...]] = ("token_env", "service_account_env")
    ad_audience: ClassVar[bool] = True

    @model_validator(mode="after")
    def _one_credential(self) -> GoogleConfig:
        check_one_credential(self.token_env, self.service_account_env)
        return self

    def field_spec(self, name: str) -> FieldSpec | None:
        return FIELDS.get(name)

    def allowed_fields_hint(self) -> str:
        return ", ".join(FIELDS)

    def build_client(self, stats: RequestStats, sync_name: str) -> GoogleDataManagerClient:
        return GoogleDataManagerClient(self, stats, sync_name)


def audience_member(row: dict[str, Any]) -> dict[str, Any]:
    """One AudienceMember from a prepared row (values already normalized and hashed in the warehouse)."""
    identifiers: list[dict[str, Any]] = []
    if row.get("email"):
        identifiers.append({"emailAddress": row["email"]})
    if row.get("phone"):
        identifiers.append({"phoneNumber": row["phone"]})
    address = {
        "givenName": row.get("first_name"),
        "familyName": row.get("last_name"),
        "regionCode": row.get("country"),
        "postalCode": row.get("postal_code"),
    }
    if all(address.values()):
        identifiers.append({"address": address})
    member: dict[str, Any] = {"userData": {"userIdentifiers": identifiers}}
    consent = {
        key: row[field]
        for key, field in (
            ("adUserData", "consent_ad_user_data"),
            ("adPersonalization", "consent_ad_personalization"),
        )
        if row.get(field)
    }
    if consent:
        member["consent"] = consent
    return member


class GoogleDataManagerClient(BatchDestination):
    config: GoogleConfig

    def __init__(self, config: GoogleConfig, stats: RequestStats, sync_name: str) -> None:
        super().__init__(config, stats, sync_name)
        self._auth = bearer_auth(
            token_env=config.token_env,
            service_account_env=config.service_account_env,
            scopes=[DATAMANAGER_SCOPE],
        )
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str, list[str]]] = []  # (requestId, op, primary keys) to confirm

    def _destination(self) -> dict[str, Any]:
        dest: dict[str, Any] = {
            "operatingAccount": {
                "accountType": self.config.operating_account_type,
                "accountId": self.config.operating_account_id,
            },
            "productDestinationId": self.config.product_destination_id,
        }
        if self.config.login_account_id:
            dest["loginAccount"] = {
                "accountType": self.config.login_account_type or self.config.operating_account_type,
                "accountId": self.config.login_account_id,
            }
        return dest

    def _body(self, members: list[dict[str, Any]], op: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "destinations": [self._destination()],
            "audienceMembers": members,
            "encoding": "HEX",
            "validateOnly": self.config.validate_only,
        }
        if op in ("upsert", "replace"):
            body["consent"] = {
                "adUserData": self.config.ad_user_data,
                "adPersonalization": self.config.ad_personalization,
            }
            body["termsOfService"] = {
                "customerMatchTermsOfServiceStatus": "ACCEPTED"
                if self.config.terms_of_service_accepted
                else "REJECTED"
            }
        return body

    def lanes(self, op: str) -> int:
        return max(1, self.config.max_in_flight)  # no sessions: a replace's ingests may overlap too

    def begin_group(self, group: str, total_rows: int, batches: int, lanes: int) -> list[dict[str, Any]]:
        if group == "add":
            self._replace_as_of = self._as_of()
        return super().begin_group(group, total_rows, batches, lanes)

    def _as_of(self) -> datetime:
        return datetime.now(UTC) - timedelta(seconds=self.config.replace_clock_margin_s)

    def end_group(self, group: str, op: str) -> None:
        if op == "replace":
            self._remove_all(self._replace_as_of)

    def replace_with_nothing(self) -> bool:
        self._remove_all(self._as_of())
        return True

    def _remove_all(self, as_of: datetime) -> None:
        """Replace-all, second step: every member last uploaded before `as_of` leaves the list (the
        members of this run were all uploaded after it)."""
        body = {
            "destinations": [self._destination()],
            "removeAsOfTime": as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "validateOnly": self.config.validate_only,
        }
        self.sender(type_name="google").request(
            "POST",
            "/v1/audienceMembers:removeAll",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            auth=self._auth,
            classify=_classify,
            idempotent=True,  # removing everything older than a fixed time twice removes the same
        )

    def prepare(self, batch: Batch, session: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        return batch.rows(), batch.op

    def transmit(self, prepared: tuple[list[dict[str, Any]], str]) -> BatchOutcome:
        rows, op = prepared
        path = "/v1/audienceMembers:remove" if op == "remove" else "/v1/audienceMembers:ingest"
        outcome = BatchOutcome()
        pending = rows
        # each round drops the members Google named as invalid; bounded by the batch size
        while pending:
            members = [audience_member(r) for r in pending]
            result = self.sender(type_name="google").request(
                "POST",
                path,
                content=json.dumps(self._body(members, op)).encode(),
                headers={"Content-Type": "application/json"},
                auth=self._auth,
                classify=_classify,
                idempotent=True,  # ingest/remove of the same members is harmless
            )
            if isinstance(result, _MemberViolations):
                bad = {i: reason for i, reason in result.by_index.items() if 0 <= i < len(pending)}
                if not bad:
                    raise DestinationError(f"google rejected the request: {result.message}")
                for i, reason in bad.items():
                    outcome.rejected[pending[i]["__pk"]] = f"google: {reason}"
                pending = [r for i, r in enumerate(pending) if i not in bad]
                continue
            outcome.sent_rows += len(pending)
            request_id = result.get("requestId") if isinstance(result, dict) else None
            if request_id and not self.config.validate_only:
                with self._lock:
                    self._requests.append((str(request_id), op, [r["__pk"] for r in pending]))
            break
        return outcome

    def confirm(self, group: str) -> BatchOutcome:
        """Read the status of every request of the group until Google has processed it (see module doc)."""
        removal = group == "remove"
        with self._lock:
            pending = [r for r in self._requests if (r[1] == "remove") == removal]
            self._requests = [r for r in self._requests if (r[1] == "remove") != removal]
        outcome = BatchOutcome()
        deadline = time.monotonic() + self.config.request_status_wait_s
        while pending:
            processing = []
            for request_id, op, pks in pending:
                status, errors = self._request_status(request_id)
                if status == "PROCESSING":
                    processing.append((request_id, op, pks))
                elif status == "FAILED":
                    reason = f"google: request failed ({errors or 'no reason given'})"
                    outcome.rejected.update(dict.fromkeys(pks, reason))
                elif status == "PARTIAL_SUCCESS":
                    outcome.unattributed_invalid += sum(n for _, n in errors_counts(errors))
            pending = processing
            if pending and time.monotonic() >= deadline:
                message = (
                    f"google: {len(pending)} request(s) still PROCESSING after {self.config.request_status_wait_s:g}s "
                    f"(first requestId {pending[0][0]})"
                )
                if self.sync_mode == "replace":
                    raise DestinationError(message + "; removeAll not sent")
                log.warning("%s; their outcome is not verified", message)
                break
            if pending:
                time.sleep(self.config.request_status_poll_s)
        if outcome.rejected and self.sync_mode == "replace":
            # removeAll now would drop the members whose upload failed: fail, the next run replaces again
            raise DestinationError(
                f"google: {len(outcome.rejected)} member(s) failed processing; removeAll not sent "
                f"({next(iter(outcome.rejected.values()))})"
            )
        return outcome

    def _request_status(self, request_id: str) -> tuple[str, str]:
        """(RequestStatus of our one destination, 'reason xN, ...' from its errorInfo)."""
        answer = self.sender(type_name="google").request(
            "GET",
            "/v1/requestStatus:retrieve",
            params={"requestId": request_id},
            auth=self._auth,
            classify=_classify,
            idempotent=True,
        )
        per_destination = (answer or {}).get("requestStatusPerDestination") or [{}]
        status = per_destination[0]
        counts = (status.get("errorInfo") or {}).get("errorCounts") or []
        errors = ", ".join(f"{c.get('reason', 'UNKNOWN')} x{int(c.get('recordCount', 0))}" for c in counts)
        return str(status.get("requestStatus") or "REQUEST_STATUS_UNKNOWN"), errors


def errors_counts(errors: str) -> list[tuple[str, int]]:
    """Parse back the 'reason xN, ...' text of _request_status."""
    out = []
    for part in filter(None, (p.strip() for p in errors.split(","))):
        reason, _, n = part.rpartition(" x")
        out.append((reason, int(n) if n.isdigit() else 0))
    return out


class _MemberViolations:
    def __init__(self, by_index: dict[int, str], message: str) -> None:
        self.by_index = by_index
        self.message = message


def _classify(response: httpx.Response) -> Any:
    if 200 <= response.status_code < 300:
        return response.json() if response.content else {}
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    status = error.get("status") if isinstance(error, dict) else None
    if response.status_code in (429, 500, 502, 503, 504) or status in (
        "RESOURCE_EXHAUSTED",
        "UNAVAILABLE",
        "INTERNAL",
        "DEADLINE_EXCEEDED",
    ):
        raise RetryableError(
            f"google {status or response.status_code}: {error_snippet(response)}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if response.status_code == 400 and isinstance(error, dict):
        by_index: dict[int, str] = {}
        for detail in error.get("details") or []:
            for violation in detail.get("fieldViolations") or []:
                match = _MEMBER_INDEX.search(str(violation.get("field", "")))
                if match:
                    by_index.setdefault(
                        int(match.group(1)), str(violation.get("description", "invalid"))[:200]
                    )
        return _MemberViolations(by_index, str(error.get("message", ""))[:300])
    raise DestinationError(f"google error: {error_snippet(response)}")
