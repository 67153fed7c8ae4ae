"""Stand-in for Klaviyo: profile bulk import jobs (polled to completion), list membership and profile
lookups by email, revision header and body size limits.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from typing import Any

from reverse_etl.testing.server import Request, Response, StandinServer
from reverse_etl.testing.standins.base import E164, EMAIL, summary_route

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
        summary = summary_route(self, req)
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
            elif attrs.get("email") and not EMAIL.fullmatch(attrs["email"]):
                problem = "invalid email"
            elif attrs.get("phone_number") and not E164.fullmatch(attrs["phone_number"]):
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
