"""The collector's ASGI app: the Segment HTTP Tracking API on the wire, landing every accepted event durably.

Answers: 200 ``{"success": true}`` once the request's events are fsynced; 400 ``{"code", "message"}`` for a body
that breaks the contract (nothing of it is stored); 401 for a missing or unknown write key; 429 with
``Retry-After`` while the landing zone is behind; 503 with ``Retry-After`` when the disk refused the write.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sen.collect.events import (
    EVENT_TYPES,
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    SHORT_PATHS,
    BadRequest,
    Stamp,
    decode_body,
    parse_json,
    prepare_request,
    write_key_of,
)
from sen.collect.landing import LandingError, SegmentWriter, disk_free_bytes
from sen.collect.settings import CollectSettings

log = logging.getLogger("sen.collect")

# The request headers a browser may send cross-origin (analytics.js sends Authorization and text/plain).
CORS_HEADERS = ["Authorization", "Content-Type", "Content-Encoding", "X-Write-Key", "X-Retry-Count"]
# Compressed bodies are never meaningfully larger than the JSON they hold: the raw cap guards memory.
RAW_SLACK = 4096


def _error(status: int, code: str, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(
        {"success": False, "code": code, "message": message}, status_code=status, headers=headers
    )


class Backpressure:
    """When the landing zone is behind: unsynced bytes above a limit, or free disk below a floor."""

    def __init__(self, settings: CollectSettings, writer: SegmentWriter):
        self.settings, self.writer = settings, writer
        self._free = None
        self._checked = 0.0

    def free_bytes(self) -> int:
        now = time.monotonic()
        if self._free is None or now - self._checked > 1.0:  # statvfs once a second at most
            self._free = disk_free_bytes(self.settings.landing_dir)
            self._checked = now
        return self._free

    def verdict(self) -> tuple[str, int] | None:
        """(reason, retry-after seconds) when new events must wait, else None."""
        if self.writer.pending_bytes > self.settings.max_pending_bytes:
            return (
                f"the landing zone is behind: {self.writer.pending_bytes} bytes wait for their fsync "
                f"(limit {self.settings.max_pending_bytes})",
                1,
            )
        free = self.free_bytes()
        if free < self.settings.min_free_bytes:
            return (
                f"the landing zone is short of disk: {free} bytes free (floor {self.settings.min_free_bytes})",
                30,
            )
        return None


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise BadRequest("payload_too_large", f"the request body is larger than {cap // 1024} KB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BadRequest("payload_too_large", f"the request body is larger than {cap // 1024} KB")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: CollectSettings) -> Starlette:
    writer = SegmentWriter(
        settings.landing_dir, max_bytes=settings.segment_max_bytes, max_seconds=settings.segment_max_seconds
    )
    pressure = Backpressure(settings, writer)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer.start()
        sources = sorted(set(settings.write_keys.values()))
        log.info("collector landing in %s for sources %s", settings.landing_dir, ", ".join(sources))
        try:
            yield
        finally:
            writer.stop()

    async def ingest(request: Request, kind: str) -> Response:
        received_at = datetime.now(UTC)
        limit = MAX_BATCH_BYTES if kind == "batch" else MAX_EVENT_BYTES
        try:
            raw = await _read_capped(request, limit + RAW_SLACK)
            payload = parse_json(decode_body(raw, request.headers.get("content-encoding"), limit))
        except BadRequest as exc:
            return _error(exc.status, exc.code, exc.message)
        except ClientDisconnect:
            return Response(status_code=400)
        key = write_key_of(request.headers.get("authorization"), request.headers.get("x-write-key"), payload)
        if key is None:
            return _error(
                401,
                "unauthorized",
                "no write key: send it as Basic auth (writeKey:), X-Write-Key or writeKey",
            )
        source = settings.write_keys.get(key)
        if source is None:
            return _error(401, "unauthorized", "unknown write key")
        try:
            lines = prepare_request(payload, kind=kind, stamp=Stamp(received_at, source))
        except BadRequest as exc:
            return _error(exc.status, exc.code, exc.message)
        if not lines:
            return JSONResponse({"success": True})
        behind = pressure.verdict()
        if behind is not None:
            reason, retry_after = behind
            return _error(429, "backpressure", reason, retry_after=retry_after)
        try:
            await writer.append(lines)
        except LandingError as exc:
            return _error(503, "unavailable", str(exc), retry_after=5)
        return JSONResponse({"success": True})

    def endpoint(kind: str):
        async def handler(request: Request) -> Response:
            return await ingest(request, kind)

        return handler

    async def health(request: Request) -> Response:
        behind = pressure.verdict()
        body = {
            "status": "behind" if behind else "ok",
            "pending_bytes": writer.pending_bytes,
            "events_written": writer.events_written,
            "segments_published": len(writer.published),
        }
        if behind:
            body["reason"] = behind[0]
        return JSONResponse(body, status_code=503 if behind else 200)

    async def cdn_settings(request: Request) -> Response:
        """What analytics.js fetches from its CDN: point it at this collector (``cdnURL`` = the collector)."""
        key = request.path_params["write_key"]
        if key not in settings.write_keys:
            return _error(404, "not_found", "unknown write key")
        api_host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
        protocol = request.headers.get("x-forwarded-proto") or request.url.scheme
        return JSONResponse(
            {
                "integrations": {
                    "Segment.io": {"apiKey": key, "apiHost": f"{api_host}/v1", "protocol": protocol}
                },
                "plan": {
                    "track": {"__default": {"enabled": True}},
                    "identify": {"__default": {"enabled": True}},
                },
                "edgeFunction": {},
                "analyticsNextEnabled": True,
                "middlewareSettings": {},
                "enabledMiddleware": {},
                "metrics": {"sampleRate": 0},
                "legacyVideoPluginsEnabled": False,
                "remotePlugins": [],
            }
        )

    routes = [Route("/health", health, methods=["GET"])]
    routes.append(Route("/v1/projects/{write_key}/settings", cdn_settings, methods=["GET"]))
    for kind in (*EVENT_TYPES, "batch"):
        routes.append(Route(f"/v1/{kind}", endpoint(kind), methods=["POST"]))
    routes.append(Route("/v1/b", endpoint("batch"), methods=["POST"]))
    for letter, kind in SHORT_PATHS.items():
        routes.append(Route(f"/v1/{letter}", endpoint(kind), methods=["POST"]))

    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["POST", "GET", "OPTIONS"],
            allow_headers=CORS_HEADERS,
            max_age=86400,
        )
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.writer = writer
    return app


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory sen.collect.app:app_from_env`` (each worker process builds its own)."""
    return create_app(CollectSettings.from_env())
