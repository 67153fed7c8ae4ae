"""Stand-in for Firebase Cloud Messaging HTTP v1: one message per request, OAuth2 bearer tokens,
string data values, the 4,096-byte payload limit and unregistered tokens.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from reverse_etl.destinations.fcm import MAX_PAYLOAD_BYTES, fcm_payload_size
from reverse_etl.testing.oauth import TokenIssuer, bearer_ok, token_route
from reverse_etl.testing.server import Request, Response, StandinServer
from reverse_etl.testing.standins.base import summary_route


class FcmStandin(StandinServer):
    name = "fcm"

    def __init__(self, token: str | None, project_id: str, *, oauth: TokenIssuer | None = None) -> None:
        super().__init__()
        self.token = token
        self.oauth = oauth  # mints tokens at /token for service accounts it trusts
        self.project_id = project_id
        self.unregistered: set[str] = set()
        self.invalid_tokens: set[str] = set()  # answered INVALID_ARGUMENT, as FCM does for a malformed token
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
    def _error(status: int, code: str, message: str = "", field: str | None = None) -> dict[str, Any]:
        """FCM's error shape: a bad message field comes with a google.rpc.BadRequest field violation, a bad
        token with only the FcmError detail (FCM error-codes reference, examples 1 and 2)."""
        details: list[dict[str, Any]] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
        ]
        if field:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": field, "description": message or code}],
                }
            ]
        return {"error": {"code": status, "message": message or code, "status": code, "details": details}}

    def route(self, req: Request) -> Response:
        summary = summary_route(self, req)
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
            return Response(400, self._error(400, "INVALID_ARGUMENT", "message is required", "message"))
        token = message.get("token")
        if not isinstance(token, str) or not token:
            return Response(
                400, self._error(400, "INVALID_ARGUMENT", "message.token is required", "message.token")
            )
        data = message.get("data") or {}
        if not isinstance(data, dict) or any(not isinstance(v, str) for v in data.values()):
            return Response(
                400, self._error(400, "INVALID_ARGUMENT", "data values must be strings", "message.data")
            )
        if fcm_payload_size(message) > MAX_PAYLOAD_BYTES:
            return Response(400, self._error(400, "INVALID_ARGUMENT", "message is too big", "message"))
        if token in self.invalid_tokens:
            message_text = "The registration token is not a valid FCM registration token"
            return Response(400, self._error(400, "INVALID_ARGUMENT", message_text))
        if token in self.unregistered:
            return Response(404, self._error(404, "UNREGISTERED", "Requested entity was not found."))
        self.messages.append(message)
        return Response(200, {"name": f"projects/{self.project_id}/messages/{len(self.messages)}"})
