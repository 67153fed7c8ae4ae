"""Stand-in for Google's Data Manager API (Customer Match): OAuth2 bearer tokens, hashed members,
add / remove / remove-all and per-request member limits, ConsentStatus values (CONSENT_GRANTED /
CONSENT_DENIED; anything else is INVALID_ARGUMENT) and asynchronous processing: every accepted request gets
a requestId whose outcome is read with GET /v1/requestStatus:retrieve. Set `processing_polls` to answer
PROCESSING that many times before a request is applied, and `fail_next` to have the next requests accepted
and then FAILED (their members never applied). A removeAll arriving while an ingest of the same list is
still processing is recorded in `violations`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from reverse_etl.testing.oauth import TokenIssuer, bearer_ok, token_route
from reverse_etl.testing.server import Request, Response, StandinServer
from reverse_etl.testing.standins.base import HEX64, summary_route

GOOGLE_MAX_MEMBERS = 10_000
CONSENT_VALUES = ("CONSENT_GRANTED", "CONSENT_DENIED")  # ConsentStatus (CONSENT_STATUS_UNSPECIFIED: not set)


class GoogleStandin(StandinServer):
    name = "google"

    def __init__(
        self,
        token: str | None,
        user_list_ids: set[str] | frozenset[str],
        *,
        oauth: TokenIssuer | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.oauth = oauth  # mints tokens at /token for service accounts it trusts
        self.user_list_ids = set(user_list_ids)
        self.refuse: dict[str, str] = {}  # hashed value -> reason (a field violation for that member)
        self.emails: dict[str, set[str]] = defaultdict(set)
        self.phones: dict[str, set[str]] = defaultdict(set)
        self.addresses: dict[str, set[tuple[str, str, str, str]]] = defaultdict(set)
        self.consents: dict[str, dict[str, Any]] = {}  # email hash -> consent seen with it
        self.uploaded_at: dict[tuple[str, str, Any], float] = {}  # (list, kind, value) -> last ingest
        self.clock_offset_s = 0.0  # this server's clock minus the client's (to test clock skew)
        self.remove_all_calls: list[str] = []  # removeAsOfTime of each removeAll
        self.requests_ok = 0
        self.processing_polls = 0  # requestStatus reads answering PROCESSING before a request is applied
        self.fail_next: list[str] = []  # reasons: the next ingest/remove requests are accepted, then FAILED
        self.requests: dict[str, dict[str, Any]] = {}  # requestId -> status, list, pending change
        self.status_reads = 0
        self.violations: list[str] = []

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"emails": {k: len(v) for k, v in self.emails.items()}, "requests": len(self.log)}

    def error_body(self, status: int) -> Any:
        names = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        return {"error": {"code": status, "message": "injected", "status": names.get(status, "UNKNOWN")}}

    def _err(
        self, status: int, name: str, message: str, violations: list[dict[str, str]] | None = None
    ) -> Response:
        error: dict[str, Any] = {"code": status, "message": message, "status": name}
        if violations:
            error["details"] = [
                {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}
            ]
        return Response(status, {"error": error})

    def route(self, req: Request) -> Response:
        summary = summary_route(self, req)
        if summary:
            return summary
        minted = token_route(self.oauth, req)
        if minted:
            return minted
        if not bearer_ok(self.token, self.oauth, req.headers.get("authorization")):
            return self._err(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if req.path == "/v1/requestStatus:retrieve" and req.method == "GET":
            return self._retrieve((req.query.get("requestId") or [""])[0])
        op = {
            "/v1/audienceMembers:ingest": "ingest",
            "/v1/audienceMembers:remove": "remove",
            "/v1/audienceMembers:removeAll": "remove_all",
        }.get(req.path)
        if req.method != "POST" or op is None:
            return self._err(404, "NOT_FOUND", f"no such method {req.method} {req.path}")
        try:
            body = req.json()
        except ValueError:
            return self._err(400, "INVALID_ARGUMENT", "Invalid JSON payload")
        dests = body.get("destinations") or []
        if len(dests) != 1 or dests[0].get("productDestinationId") not in self.user_list_ids:
            return self._err(
                400,
                "INVALID_ARGUMENT",
                "unknown destination",
                [{"field": "destinations", "description": "unknown productDestinationId"}],
            )
        list_id = dests[0]["productDestinationId"]
        if not (dests[0].get("operatingAccount") or {}).get("accountId"):
            return self._err(400, "INVALID_ARGUMENT", "operatingAccount.accountId is required")
        if op == "remove_all":
            return self._remove_all(list_id, body)
        members = body.get("audienceMembers")
        if not isinstance(members, list) or not members:
            return self._err(400, "INVALID_ARGUMENT", "audienceMembers is required")
        if len(members) > GOOGLE_MAX_MEMBERS:
            return self._err(400, "INVALID_ARGUMENT", f"too many audience members: {len(members)}")
        if body.get("encoding") != "HEX":
            return self._err(400, "INVALID_ARGUMENT", "encoding HEX is required with hashed user data")
        if op == "ingest":
            consent = body.get("consent") or {}
            bad = [k for k in ("adUserData", "adPersonalization") if consent.get(k) not in CONSENT_VALUES]
            if bad:
                return self._err(
                    400,
                    "INVALID_ARGUMENT",
                    f"Invalid value at 'consent.{bad[0]}': {consent.get(bad[0])!r}",
                    [{"field": f"consent.{k}", "description": "not a ConsentStatus value"} for k in bad],
                )
            tos = (body.get("termsOfService") or {}).get("customerMatchTermsOfServiceStatus")
            if tos != "ACCEPTED":
                return self._err(400, "INVALID_ARGUMENT", "Customer Match terms of service not accepted")
        violations: list[dict[str, str]] = []
        parsed: list[list[tuple[str, Any]]] = []
        for i, member in enumerate(members):
            ids = ((member.get("userData") or {}).get("userIdentifiers")) or []
            problem = None
            if not ids or len(ids) > 10:
                problem = ("user_data.user_identifiers", "between 1 and 10 identifiers required")
            entries: list[tuple[str, Any]] = []
            for j, ident in enumerate(ids):
                if problem:
                    break
                keys = [k for k in ("emailAddress", "phoneNumber", "address") if k in ident]
                if len(keys) != 1:
                    problem = (f"user_data.user_identifiers[{j}]", "exactly one identifier per entry")
                    break
                k = keys[0]
                if k == "address":
                    a = ident["address"]
                    ok = (
                        all(HEX64.fullmatch(str(a.get(x, ""))) for x in ("givenName", "familyName"))
                        and re.fullmatch(r"[A-Z]{2}", str(a.get("regionCode", "")))
                        and a.get("postalCode")
                    )
                    if not ok:
                        problem = (f"user_data.user_identifiers[{j}].address", "invalid address")
                        break
                    value: Any = (a["givenName"], a["familyName"], a["regionCode"], a["postalCode"])
                else:
                    value = ident[k]
                    if not HEX64.fullmatch(str(value)):
                        problem = (f"user_data.user_identifiers[{j}].{k}", "value is not a hex SHA-256 hash")
                        break
                    if value in self.refuse:
                        problem = (f"user_data.user_identifiers[{j}].{k}", self.refuse[value])
                        break
                entries.append((k, value))
            member_consent = member.get("consent") or {}
            for key in ("adUserData", "adPersonalization"):
                if not problem and key in member_consent and member_consent[key] not in CONSENT_VALUES:
                    problem = (f"consent.{key}", f"invalid ConsentStatus {member_consent[key]!r}")
            if problem:
                violations.append({"field": f"audience_members[{i}].{problem[0]}", "description": problem[1]})
            parsed.append(entries)
        if violations:  # validation is all-or-nothing per request
            return self._err(400, "INVALID_ARGUMENT", "Invalid audience members", violations)

        def apply() -> None:
            for member, entries in zip(members, parsed, strict=True):
                for k, value in entries:
                    stores = {
                        "emailAddress": self.emails,
                        "phoneNumber": self.phones,
                        "address": self.addresses,
                    }
                    target = stores[k][list_id]
                    if op == "ingest":
                        target.add(value)
                        self.uploaded_at[(list_id, k, value)] = time.time() + self.clock_offset_s
                        if k == "emailAddress":
                            self.consents[value] = {
                                **(body.get("consent") or {}),
                                **(member.get("consent") or {}),
                            }
                    else:
                        target.discard(value)

        self.requests_ok += 1
        return Response(200, {"requestId": self._accept(list_id, op, len(members), apply)})

    def _accept(self, list_id: str, op: str, records: int, apply: Any) -> str:
        """Register an accepted request: applied now, later (processing_polls) or never (fail_next)."""
        request_id = uuid.uuid4().hex
        entry: dict[str, Any] = {"list": list_id, "op": op, "records": records, "apply": apply}
        if self.fail_next:
            entry.update(status="FAILED", reason=self.fail_next.pop(0))
        elif self.processing_polls > 0:
            entry.update(status="PROCESSING", polls_left=self.processing_polls)
        else:
            apply()
            entry["status"] = "SUCCESS"
        self.requests[request_id] = entry
        return request_id

    def _retrieve(self, request_id: str) -> Response:
        entry = self.requests.get(request_id)
        if entry is None:
            return self._err(404, "NOT_FOUND", f"request {request_id!r} not found")
        self.status_reads += 1
        if entry["status"] == "PROCESSING":
            entry["polls_left"] -= 1
            if entry["polls_left"] < 0:
                entry["apply"]()
                entry["status"] = "SUCCESS"
        status: dict[str, Any] = {
            "destination": {"productDestinationId": entry["list"]},
            "requestStatus": entry["status"],
        }
        kind = "audienceMembersIngestionStatus" if entry["op"] == "ingest" else "audienceMembersRemovalStatus"
        status[kind] = {"userDataIngestionStatus": {"recordCount": entry["records"]}}
        if entry["status"] == "FAILED":
            status["errorInfo"] = {
                "errorCounts": [{"recordCount": entry["records"], "reason": entry["reason"]}]
            }
        return Response(200, {"requestStatusPerDestination": [status]})

    def _remove_all(self, list_id: str, body: dict[str, Any]) -> Response:
        """Every member of the list last uploaded before removeAsOfTime leaves it."""
        raw = body.get("removeAsOfTime")
        try:
            as_of = datetime.fromisoformat(str(raw)).timestamp()
        except ValueError:
            return self._err(400, "INVALID_ARGUMENT", "removeAsOfTime must be an RFC 3339 timestamp")
        if any(e["list"] == list_id and e["status"] == "PROCESSING" for e in self.requests.values()):
            self.violations.append(f"removeAll on {list_id} while an ingest was still processing")
        stores = {"emailAddress": self.emails, "phoneNumber": self.phones, "address": self.addresses}
        for (lid, kind, value), at in list(self.uploaded_at.items()):
            if lid == list_id and at < as_of:
                stores[kind][list_id].discard(value)
                del self.uploaded_at[(lid, kind, value)]
        self.remove_all_calls.append(str(raw))
        self.requests_ok += 1
        request_id = uuid.uuid4().hex
        self.requests[request_id] = {"list": list_id, "op": "remove_all", "records": 0, "status": "SUCCESS"}
        return Response(200, {"requestId": request_id})
