"""Stand-in servers for every destination, enforcing each contract and keeping destination state.

    with MetaStandin(token="t", audience_ids={"123"}) as meta:
        ... point the sync's base URL at meta.base_url ...
        assert meta.members("EMAIL") == {...}

Run one in its own process (the benchmark does, so it does not share the client's GIL):
    python -m reverse_etl.testing.standins meta --token T --audience 123
prints the base URL on stdout and serves until stdin closes. `GET /__standin/summary` returns counts.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from reverse_etl.destinations.fcm import MAX_PAYLOAD_BYTES, fcm_payload_size
from reverse_etl.testing.oauth import TokenIssuer, bearer_ok, token_route
from reverse_etl.testing.server import Fault, Request, Response, StandinServer

_HEX64 = re.compile(r"[0-9a-f]{64}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _summary_route(standin: StandinServer, req: Request) -> Response | None:
    if req.path == "/__standin/summary":
        return Response(200, standin.summary())  # type: ignore[attr-defined]
    return None


# ============================================================================ Meta


META_ALLOWED = {
    "EXTERN_ID",
    "EMAIL",
    "PHONE",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
    "LN",
    "FN",
    "FI",
    "CT",
    "ST",
    "ZIP",
    "MADID",
    "COUNTRY",
}
META_SINGLE = {"EMAIL_SHA256": "EMAIL", "PHONE_SHA256": "PHONE", "MOBILE_ADVERTISER_ID": "MADID"}
META_CLEAR = {"EXTERN_ID", "MADID"}
META_MAX_ROWS = 10_000


class MetaStandin(StandinServer):
    """Graph API custom audience users / usersreplace."""

    name = "meta"

    def __init__(
        self, token: str, audience_ids: set[str] | frozenset[str], *, full_hex_check: bool = True
    ) -> None:
        super().__init__()
        self.token = token
        self.audience_ids = set(audience_ids)
        self.full_hex_check = full_hex_check
        self.refuse: dict[str, str] = {}  # hashed value -> reason: rows holding it are invalid entries
        self._members: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._sessions: dict[tuple[str, int, str], dict[str, Any]] = {}
        self._replace: dict[tuple[str, int], dict[str, set[str]]] = {}
        self.rows_received = Counter()  # op -> rows accepted

    # ------------------------------------------------------------------ helpers for tests
    def members(self, field: str = "EMAIL", audience_id: str | None = None) -> set[str]:
        aid = audience_id or next(iter(sorted(self.audience_ids)))
        with self.lock:
            return set(self._members[aid][field])

    def seed(self, audience_id: str, field: str, values: set[str]) -> None:
        with self.lock:
            self._members[audience_id][field].update(values)

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "members": {a: {f: len(v) for f, v in fields.items()} for a, fields in self._members.items()},
                "rows_received": dict(self.rows_received),
                "requests": len(self.log),
            }

    def error_body(self, status: int) -> Any:
        return {"error": {"code": 2, "message": "Service temporarily unavailable", "type": "OAuthException"}}

    @staticmethod
    def throttle(code: int = 80003, *, regain_minutes: float = 0, count: int = 1) -> Fault:
        usage = {
            "act_1": [
                {
                    "type": "custom_audience",
                    "call_count": 100,
                    "estimated_time_to_regain_access": regain_minutes,
                }
            ]
        }
        return Fault.status_code(
            400,
            count=count,
            body={"error": {"code": code, "message": "User request limit reached", "type": "OAuthException"}},
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )

    # ------------------------------------------------------------------ contract
    def _err(self, code: int, message: str, status: int = 400) -> Response:
        return Response(
            status,
            {
                "error": {
                    "code": code,
                    "message": message,
                    "type": "OAuthException",
                    "fbtrace_id": uuid.uuid4().hex[:12],
                }
            },
        )

    def _params(self, req: Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: v[0] for k, v in req.query.items()}
        ctype = req.headers.get("content-type", "")
        if req.body:
            if "application/json" in ctype:
                params.update(json.loads(req.body))
            elif "application/x-www-form-urlencoded" in ctype:
                params.update({k: v[0] for k, v in parse_qs(req.body.decode()).items()})
        for key in ("payload", "session"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    def route(self, req: Request) -> Response:
        summary = _summary_route(self, req)
        if summary:
            return summary
        m = re.fullmatch(r"/v[0-9.]+/([0-9A-Za-z_]+)/(users|usersreplace)", req.path)
        if not m:
            return self._err(100, f"Unknown path {req.path}", 404)
        audience_id, edge = m.groups()
        op = "replace" if edge == "usersreplace" else {"POST": "add", "DELETE": "remove"}.get(req.method)
        if op is None or (op == "replace" and req.method != "POST"):
            return self._err(100, "Unsupported method")
        try:
            params = self._params(req)
        except (ValueError, UnicodeDecodeError):
            return self._err(100, "Malformed parameters")
        if params.get("access_token") != self.token:
            return self._err(190, "Invalid OAuth access token - Cannot parse access token")
        if audience_id not in self.audience_ids:
            return self._err(100, f"Unsupported request - object {audience_id} does not exist")
        payload, session = params.get("payload"), params.get("session")
        if not isinstance(payload, dict) or not isinstance(payload.get("schema"), (list, str)):
            return self._err(100, "(#100) payload.schema is required")
        schema = payload["schema"]
        schema = [schema] if isinstance(schema, str) else schema
        if len(schema) == 1 and schema[0] in META_SINGLE:
            fields = [META_SINGLE[schema[0]]]
        elif all(s in META_ALLOWED for s in schema) and len(set(schema)) == len(schema):
            fields = list(schema)
        else:
            return self._err(100, f"(#100) Invalid schema {schema}")
        data = payload.get("data")
        if not isinstance(data, list):
            return self._err(100, "(#100) payload.data must be a list")
        if len(data) > META_MAX_ROWS:
            return self._err(100, f"(#100) Too many rows: {len(data)} > {META_MAX_ROWS}")
        if not isinstance(session, dict) or not isinstance(session.get("session_id"), int):
            return self._err(100, "(#100) session.session_id is required")
        seq = session.get("batch_seq")
        key = (audience_id, session["session_id"], op)
        state = self._sessions.get(key)
        if state is None:
            if seq != 1:
                return self._err(100, f"(#100) batch_seq must start at 1, got {seq}")
            state = self._sessions[key] = {"last_seq": 0, "closed": False}
        repeat = seq == state["last_seq"]
        if not repeat and (state["closed"] or seq != state["last_seq"] + 1):
            return self._err(100, f"(#100) batch_seq {seq} out of order (last {state['last_seq']})")
        if repeat and state["closed"]:  # a retry of a session's last batch: already applied
            return Response(
                200,
                {
                    "audience_id": audience_id,
                    "session_id": session["session_id"],
                    "num_received": len(payload.get("data") or []),
                    "num_invalid_entries": 0,
                    "invalid_entry_samples": {},
                },
            )
        hashed_idx = [i for i, f in enumerate(fields) if f not in META_CLEAR]
        invalid: dict[str, str] = {}
        valid_rows: list[list[str]] = []
        for row in data:
            if not isinstance(row, list) or len(row) != len(fields):
                return self._err(100, "(#100) each data row must match the schema length")
            for i in hashed_idx:
                value = row[i]
                if value and (len(value) != 64 or (self.full_hex_check and not _HEX64.fullmatch(value))):
                    # unhashed personal data is a failed request, never silently stored
                    return self._err(100, f"(#100) {fields[i]} must be SHA-256 hex, got unhashed data")
            refused = [v for v in row if v in self.refuse]
            if refused or not any(row):
                if refused and len(invalid) < 10:
                    invalid[refused[0]] = self.refuse[refused[0]]
                continue
            valid_rows.append(row)
        target = self._members[audience_id]
        if op == "replace":
            staged = self._replace.setdefault((audience_id, session["session_id"]), defaultdict(set))
            target = staged
        for row in valid_rows:
            for i, f in enumerate(fields):
                if row[i]:
                    if op == "remove":
                        target[f].discard(row[i])
                    else:
                        target[f].add(row[i])
        state["last_seq"] = seq
        if session.get("last_batch_flag"):
            state["closed"] = True
            if op == "replace":
                self._members[audience_id] = self._replace.pop((audience_id, session["session_id"]))
        if not repeat:
            self.rows_received[op] += len(data)
        return Response(
            200,
            {
                "audience_id": audience_id,
                "session_id": session["session_id"],
                "num_received": len(data),
                "num_invalid_entries": len(data) - len(valid_rows),
                "invalid_entry_samples": invalid,
            },
        )


# ============================================================================ Google Data Manager


GOOGLE_MAX_MEMBERS = 10_000


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
        summary = _summary_route(self, req)
        if summary:
            return summary
        minted = token_route(self.oauth, req)
        if minted:
            return minted
        if not bearer_ok(self.token, self.oauth, req.headers.get("authorization")):
            return self._err(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
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
            if any(consent.get(k) not in ("GRANTED", "DENIED") for k in ("adUserData", "adPersonalization")):
                return self._err(400, "INVALID_ARGUMENT", "consent.adUserData/adPersonalization required")
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
                        all(_HEX64.fullmatch(str(a.get(x, ""))) for x in ("givenName", "familyName"))
                        and re.fullmatch(r"[A-Z]{2}", str(a.get("regionCode", "")))
                        and a.get("postalCode")
                    )
                    if not ok:
                        problem = (f"user_data.user_identifiers[{j}].address", "invalid address")
                        break
                    value: Any = (a["givenName"], a["familyName"], a["regionCode"], a["postalCode"])
                else:
                    value = ident[k]
                    if not _HEX64.fullmatch(str(value)):
                        problem = (f"user_data.user_identifiers[{j}].{k}", "value is not a hex SHA-256 hash")
                        break
                    if value in self.refuse:
                        problem = (f"user_data.user_identifiers[{j}].{k}", self.refuse[value])
                        break
                entries.append((k, value))
            if problem:
                violations.append({"field": f"audience_members[{i}].{problem[0]}", "description": problem[1]})
            parsed.append(entries)
        if violations:  # validation is all-or-nothing per request
            return self._err(400, "INVALID_ARGUMENT", "Invalid audience members", violations)
        for member, entries in zip(members, parsed, strict=True):
            for k, value in entries:
                target = {"emailAddress": self.emails, "phoneNumber": self.phones, "address": self.addresses}[
                    k
                ][list_id]
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
        return Response(200, {"requestId": uuid.uuid4().hex})

    def _remove_all(self, list_id: str, body: dict[str, Any]) -> Response:
        """Every member of the list last uploaded before removeAsOfTime leaves it."""
        raw = body.get("removeAsOfTime")
        try:
            as_of = datetime.fromisoformat(str(raw)).timestamp()
        except ValueError:
            return self._err(400, "INVALID_ARGUMENT", "removeAsOfTime must be an RFC 3339 timestamp")
        stores = {"emailAddress": self.emails, "phoneNumber": self.phones, "address": self.addresses}
        for (lid, kind, value), at in list(self.uploaded_at.items()):
            if lid == list_id and at < as_of:
                stores[kind][list_id].discard(value)
                del self.uploaded_at[(lid, kind, value)]
        self.remove_all_calls.append(str(raw))
        self.requests_ok += 1
        return Response(200, {"requestId": uuid.uuid4().hex})


# ============================================================================ Klaviyo


KLAVIYO_MAX_PROFILES = 10_000
KLAVIYO_MAX_BYTES = 5 * 1024 * 1024


class KlaviyoStandin(StandinServer):
    name = "klaviyo"

    def __init__(self, api_key: str, list_ids: set[str] | frozenset[str]) -> None:
        super().__init__()
        self.api_key = api_key
        self.list_ids = set(list_ids)
        self.refuse_emails: dict[str, str] = {}
        self.profiles: dict[str, dict[str, Any]] = {}  # profile id -> attributes
        self._by_email: dict[str, str] = {}
        self.list_members: dict[str, set[str]] = defaultdict(set)
        self.jobs: dict[str, dict[str, Any]] = {}
        self._next = 0

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "profiles": len(self.profiles),
                "lists": {k: len(v) for k, v in self.list_members.items()},
            }

    def list_emails(self, list_id: str) -> set[str]:
        with self.lock:
            return {self.profiles[p].get("email") for p in self.list_members[list_id]}  # type: ignore[misc]

    def error_body(self, status: int) -> Any:
        return {
            "errors": [
                {
                    "id": uuid.uuid4().hex,
                    "status": status,
                    "code": "throttled" if status == 429 else "error",
                    "title": "injected",
                    "detail": "injected fault",
                }
            ]
        }

    def _err(self, status: int, detail: str) -> Response:
        return Response(
            status,
            {"errors": [{"status": status, "title": "error", "detail": detail}]},
            {"Content-Type": "application/vnd.api+json"},
        )

    def _ok(self, body: Any, status: int = 200) -> Response:
        return Response(status, body, {"Content-Type": "application/vnd.api+json"})

    def _upsert(self, attrs: dict[str, Any]) -> str:
        email = attrs.get("email")
        pid = self._by_email.get(email) if email else None
        if pid is None:
            self._next += 1
            pid = f"01KLAV{self._next:08d}"
            self.profiles[pid] = {}
            if email:
                self._by_email[email] = pid
        profile = self.profiles[pid]
        for key, value in attrs.items():
            if value is None:
                continue  # a null never clears a field
            if key == "properties":
                profile.setdefault("properties", {}).update({k: v for k, v in value.items() if v is not None})
            else:
                profile[key] = value
        return pid

    def route(self, req: Request) -> Response:
        summary = _summary_route(self, req)
        if summary:
            return summary
        if req.headers.get("authorization") != f"Klaviyo-API-Key {self.api_key}":
            return self._err(401, "Missing or invalid private key.")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.\w+)?", req.headers.get("revision", "")):
            return self._err(400, "revision header is required (YYYY-MM-DD)")
        path = req.path.rstrip("/")
        if req.method == "POST" and path == "/api/profile-bulk-import-jobs":
            return self._import(req)
        m = re.fullmatch(r"/api/profile-bulk-import-jobs/([\w-]+)(/import-errors)?", path)
        if req.method == "GET" and m:
            job = self.jobs.get(m.group(1))
            if job is None:
                return self._err(404, "job not found")
            if m.group(2):
                return self._ok({"data": job["errors"], "links": {"next": None}})
            return self._ok(
                {
                    "data": {
                        "type": "profile-bulk-import-job",
                        "id": job["id"],
                        "attributes": {
                            k: job[k] for k in ("status", "total_count", "completed_count", "failed_count")
                        },
                    }
                }
            )
        if req.method == "GET" and path == "/api/profiles":
            flt = (req.query.get("filter") or [""])[0]
            fm = re.fullmatch(r"any\(email,(\[.*\])\)", flt) or re.fullmatch(
                r'equals\(email,("[^"]*")\)', flt
            )
            if not fm:
                return self._err(400, f"unsupported filter {flt!r}")
            wanted = json.loads(fm.group(1))
            wanted = wanted if isinstance(wanted, list) else [wanted]
            if len(wanted) > 100:
                return self._err(400, "too many values in filter (max 100)")
            data = [
                {"type": "profile", "id": self._by_email[e], "attributes": {"email": e}}
                for e in wanted
                if e in self._by_email
            ]
            return self._ok({"data": data, "links": {"next": None}})
        m = re.fullmatch(r"/api/lists/([\w-]+)/relationships/profiles", path)
        if req.method == "DELETE" and m:
            if m.group(1) not in self.list_ids:
                return self._err(404, "list not found")
            items = (req.json().get("data")) or []
            if len(items) > 1000:
                return self._err(400, "at most 1000 profiles per request")
            for item in items:
                self.list_members[m.group(1)].discard(item.get("id"))
            return Response(204, None)
        return self._err(404, f"no route {req.method} {path}")

    def _import(self, req: Request) -> Response:
        if "application/vnd.api+json" not in req.headers.get("content-type", ""):
            return self._err(415, "Content-Type must be application/vnd.api+json")
        if len(req.body) > KLAVIYO_MAX_BYTES:
            return self._err(413, "payload larger than 5 MB")
        try:
            data = req.json()["data"]
            assert data["type"] == "profile-bulk-import-job"
            profiles = data["attributes"]["profiles"]["data"]
            lists = data.get("relationships", {}).get("lists", {}).get("data", [])
        except (ValueError, KeyError, TypeError, AssertionError):
            return self._err(400, "invalid JSON:API document for profile-bulk-import-job")
        if len(profiles) > KLAVIYO_MAX_PROFILES:
            return self._err(400, f"at most {KLAVIYO_MAX_PROFILES} profiles per job")
        list_ids = [x.get("id") for x in lists]
        if any(lid not in self.list_ids for lid in list_ids):
            return self._err(404, "list not found")
        errors, ok = [], 0
        for i, profile in enumerate(profiles):
            attrs = profile.get("attributes") or {}
            problem = None
            if profile.get("type") != "profile":
                problem = "type must be profile"
            elif not any(attrs.get(k) for k in ("email", "phone_number", "external_id")):
                problem = "an email, phone_number or external_id is required"
            elif attrs.get("email") and not _EMAIL.fullmatch(attrs["email"]):
                problem = "invalid email"
            elif attrs.get("phone_number") and not _E164.fullmatch(attrs["phone_number"]):
                problem = "phone_number must be E.164"
            elif attrs.get("email") in self.refuse_emails:
                problem = self.refuse_emails[attrs["email"]]
            if problem:
                errors.append(
                    {
                        "type": "import-error",
                        "id": uuid.uuid4().hex,
                        "attributes": {
                            "code": "invalid",
                            "title": "Invalid profile",
                            "detail": problem,
                            "source": {"pointer": f"/data/attributes/profiles/data/{i}/attributes"},
                        },
                    }
                )
                continue
            pid = self._upsert(attrs)
            for lid in list_ids:
                self.list_members[lid].add(pid)
            ok += 1
        job_id = uuid.uuid4().hex
        self.jobs[job_id] = {
            "id": job_id,
            "status": "complete",
            "total_count": len(profiles),
            "completed_count": ok,
            "failed_count": len(errors),
            "errors": errors,
        }
        return self._ok(
            {
                "data": {
                    "type": "profile-bulk-import-job",
                    "id": job_id,
                    "attributes": {"status": "queued", "total_count": len(profiles)},
                }
            },
            202,
        )


# ============================================================================ FCM


class FcmStandin(StandinServer):
    name = "fcm"

    def __init__(self, token: str | None, project_id: str, *, oauth: TokenIssuer | None = None) -> None:
        super().__init__()
        self.token = token
        self.oauth = oauth  # mints tokens at /token for service accounts it trusts
        self.project_id = project_id
        self.unregistered: set[str] = set()
        self.messages: list[dict[str, Any]] = []

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"messages": len(self.messages)}

    def per_token(self) -> Counter:
        with self.lock:
            return Counter(m["token"] for m in self.messages)

    def error_body(self, status: int) -> Any:
        code = {429: "QUOTA_EXCEEDED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "INTERNAL")
        return self._error(status, code)["error"]  # type: ignore[index]

    @staticmethod
    def _error(status: int, code: str, message: str = "") -> dict[str, Any]:
        return {
            "error": {
                "code": status,
                "message": message or code,
                "status": code,
                "details": [
                    {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
                ],
            }
        }

    def route(self, req: Request) -> Response:
        summary = _summary_route(self, req)
        if summary:
            return summary
        minted = token_route(self.oauth, req)
        if minted:
            return minted
        if req.path != f"/v1/projects/{self.project_id}/messages:send" or req.method != "POST":
            return Response(404, self._error(404, "NOT_FOUND", f"no route {req.path}"))
        if not bearer_ok(self.token, self.oauth, req.headers.get("authorization")):
            return Response(
                401, self._error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            )
        try:
            message = req.json()["message"]
        except (ValueError, KeyError, TypeError):
            return Response(400, self._error(400, "INVALID_ARGUMENT", "message is required"))
        token = message.get("token")
        if not isinstance(token, str) or not token:
            return Response(400, self._error(400, "INVALID_ARGUMENT", "message.token is required"))
        data = message.get("data") or {}
        if not isinstance(data, dict) or any(not isinstance(v, str) for v in data.values()):
            return Response(400, self._error(400, "INVALID_ARGUMENT", "data values must be strings"))
        if fcm_payload_size(message) > MAX_PAYLOAD_BYTES:
            return Response(400, self._error(400, "INVALID_ARGUMENT", "message is too big"))
        if token in self.unregistered:
            return Response(404, self._error(404, "UNREGISTERED", "Requested entity was not found."))
        self.messages.append(message)
        return Response(200, {"name": f"projects/{self.project_id}/messages/{len(self.messages)}"})


# ============================================================================ Zalo ZNS


class ZaloStandin(StandinServer):
    name = "zalo"

    def __init__(
        self, token: str, template_ids: set[str] | frozenset[str], *, dedup_tracking_id: bool = True
    ) -> None:
        super().__init__()
        self.token = token
        self.template_ids = set(template_ids)
        self.dedup_tracking_id = dedup_tracking_id
        self.refuse_phones: dict[str, int] = {}
        self.messages: list[dict[str, Any]] = []
        self._tracking: dict[str, str] = {}

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"messages": len(self.messages)}

    def per_phone(self) -> Counter:
        with self.lock:
            return Counter(m["phone"] for m in self.messages)

    def error_body(self, status: int) -> Any:
        return {"error": -32, "message": "injected"}

    @staticmethod
    def throttle(count: int = 1) -> Fault:
        return Fault.status_code(200, body={"error": -32, "message": "Exceeded rate limit"}, count=count)

    def route(self, req: Request) -> Response:
        summary = _summary_route(self, req)
        if summary:
            return summary
        if req.path != "/message/template" or req.method != "POST":
            return Response(404, {"error": -201, "message": "unknown endpoint"})
        if req.headers.get("access_token") != self.token:
            return Response(200, {"error": -124, "message": "Access token is invalid"})
        try:
            body = req.json()
        except ValueError:
            return Response(200, {"error": -201, "message": "invalid body"})
        phone = str(body.get("phone", ""))
        if not re.fullmatch(r"84[0-9]{9,10}", phone):
            return Response(200, {"error": -108, "message": "Phone number is invalid"})
        if body.get("template_id") not in self.template_ids:
            return Response(200, {"error": -109, "message": "Template id is invalid"})
        data = body.get("template_data")
        if not isinstance(data, dict) or any(not isinstance(v, str) for v in data.values()):
            return Response(200, {"error": -112, "message": "template_data is invalid"})
        if phone in self.refuse_phones:
            return Response(200, {"error": self.refuse_phones[phone], "message": "refused"})
        tracking = body.get("tracking_id")
        if self.dedup_tracking_id and tracking and tracking in self._tracking:
            return Response(
                200, {"error": 0, "message": "Success", "data": {"msg_id": self._tracking[tracking]}}
            )
        self.messages.append(body)
        msg_id = uuid.uuid4().hex
        if tracking:
            self._tracking[tracking] = msg_id
        return Response(
            200,
            {
                "error": 0,
                "message": "Success",
                "data": {
                    "msg_id": msg_id,
                    "sent_time": str(int(time.time() * 1000)),
                    "quota": {"dailyQuota": "1000", "remainingQuota": "999"},
                },
            },
        )


# ============================================================================ generic webhook


class WebhookStandin(StandinServer):
    name = "webhook"

    def __init__(
        self, secret: str, *, path: str = "/hook", max_records: int = 10_000, tolerance_s: float = 300
    ) -> None:
        super().__init__()
        self.secret = secret
        self.path = path
        self.max_records = max_records
        self.tolerance_s = tolerance_s
        self.records: dict[str, dict[str, Any]] = {}
        self.created_by_sync: set[str] = set()
        self.refuse_keys: dict[str, str] = {}
        self._idempotent: dict[str, Response] = {}
        self.batches = 0

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"records": len(self.records), "batches": self.batches}

    def seed(self, key: str, fields: dict[str, Any]) -> None:
        """A record that exists at the destination but was not created by the sync."""
        with self.lock:
            self.records[key] = dict(fields)

    def route(self, req: Request) -> Response:
        summary = _summary_route(self, req)
        if summary:
            return summary
        if req.path != self.path or req.method != "POST":
            return Response(404, {"error": "not found"})
        ts = req.headers.get("x-sen-timestamp", "")
        expected = (
            "sha256="
            + hmac.new(self.secret.encode(), ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, req.headers.get("x-sen-signature", "")):
            return Response(401, {"error": "bad signature"})
        if not ts.isdigit() or abs(time.time() - int(ts)) > self.tolerance_s:
            return Response(401, {"error": "stale timestamp"})
        key = req.headers.get("idempotency-key")
        if key and key in self._idempotent:
            return self._idempotent[key]
        body = req.json()
        records = body.get("records")
        if body.get("action") not in ("upsert", "delete") or not isinstance(records, list):
            return Response(400, {"error": "action and records are required"})
        if len(records) > self.max_records:
            return Response(413, {"error": f"at most {self.max_records} records per batch"})
        results = []
        for rec in records:
            k = str(rec.get("key"))
            if k in self.refuse_keys:
                results.append({"key": k, "status": "rejected", "reason": self.refuse_keys[k]})
            elif body["action"] == "delete":
                self.records.pop(k, None)
                self.created_by_sync.discard(k)
                results.append({"key": k, "status": "deleted"})
            else:
                existed = k in self.records
                self.records[k] = dict(rec.get("fields") or {})
                if not existed:
                    self.created_by_sync.add(k)
                results.append({"key": k, "status": "updated" if existed else "created"})
        self.batches += 1
        response = Response(200, {"results": results})
        if key:
            self._idempotent[key] = response
        return response


# ============================================================================ CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one destination stand-in until stdin closes.")
    parser.add_argument("kind", choices=["meta"])
    parser.add_argument("--token", required=True)
    parser.add_argument("--audience", action="append", required=True)
    parser.add_argument("--cheap-hex-check", action="store_true", help="check hash length only")
    args = parser.parse_args(argv)
    server = MetaStandin(args.token, set(args.audience), full_hex_check=not args.cheap_hex_check).start()
    print(server.base_url, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
