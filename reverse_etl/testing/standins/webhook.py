"""Stand-in for the generic webhook: HMAC-SHA256 signature over timestamp and body, timestamp
tolerance, idempotency keys, upserts and deletes of keyed records.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from reverse_etl.testing.server import Request, Response, StandinServer
from reverse_etl.testing.standins.base import summary_route


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
        summary = summary_route(self, req)
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
