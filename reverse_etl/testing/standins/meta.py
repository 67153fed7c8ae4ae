"""Stand-in for Meta's Graph API custom audiences (users / usersreplace): hashed identifiers,
schema and size limits, throttling, sessions of a replace-all.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import parse_qs

from reverse_etl.testing.server import Fault, Request, Response, StandinServer
from reverse_etl.testing.standins.base import HEX64, summary_route

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
# Marketing API versions still served (Meta's version history, checked for 2026-12): older ones fail
META_VERSIONS = frozenset({"v25.0", "v26.0", "v27.0"})


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
        summary = summary_route(self, req)
        if summary:
            return summary
        m = re.fullmatch(r"/(v[0-9.]+)/([0-9A-Za-z_]+)/(users|usersreplace)", req.path)
        if not m:
            return self._err(100, f"Unknown path {req.path}", 404)
        version, audience_id, edge = m.groups()
        if version not in META_VERSIONS:
            latest = max(META_VERSIONS, key=lambda v: float(v[1:]))
            return self._err(
                2635,
                f"(#2635) You are calling a deprecated version of the Ads API. Please update to the latest "
                f"version: {latest}.",
            )
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
                if value and (len(value) != 64 or (self.full_hex_check and not HEX64.fullmatch(value))):
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
