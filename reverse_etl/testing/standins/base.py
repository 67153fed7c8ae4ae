"""What the stand-ins share: the identifier shapes destinations check, and the summary route."""

from __future__ import annotations

import re

from reverse_etl.testing.server import Request, Response, StandinServer

HEX64 = re.compile(r"[0-9a-f]{64}")  # a SHA-256 digest as lowercase hex
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def summary_route(standin: StandinServer, req: Request) -> Response | None:
    """`GET /__standin/summary`: the stand-in's counts (a stand-in in another process is read this way)."""
    if req.path == "/__standin/summary":
        return Response(200, standin.summary())  # type: ignore[attr-defined]
    return None
