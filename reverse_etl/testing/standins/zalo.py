"""Stand-in for Zalo ZNS template messages: access token, Vietnamese phone format, known templates,
tracking_id deduplication and Zalo's in-body error codes.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from typing import Any

from reverse_etl.testing.server import Fault, Request, Response, StandinServer
from reverse_etl.testing.standins.base import summary_route


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
        summary = summary_route(self, req)
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
