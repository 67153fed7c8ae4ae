"""Base for the local stand-in servers: a stdlib ThreadingHTTPServer on 127.0.0.1 and a free port, with
fault injection on demand.

A stand-in enforces the destination's contract (auth, payload shape, limits) and keeps the resulting
destination state, so tests assert on what the destination would hold rather than on what was sent.
Faults are queued with `inject(...)` and consumed by matching requests in order:
    Fault.status(429, retry_after=0.1)          an HTTP error (body/headers from the stand-in)
    Fault.timeout(0.5)                          answer only after a delay (processed late)
    Fault.drop_after()                          process the request, then close without answering
    Fault.drop_before()                         close the connection without processing
    Fault.hook(fn)                              process, call fn(request) (e.g. kill the client), answer
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class Fault:
    kind: str  # status | timeout | drop_after | drop_before | hook
    count: int = 1
    method: str | None = None
    path_contains: str | None = None
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    callback: Callable[[Request], None] | None = None

    @classmethod
    def status_code(
        cls,
        status: int,
        *,
        retry_after: float | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        count: int = 1,
        **match: Any,
    ) -> Fault:
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = f"{retry_after:g}"
        return cls("status", count=count, status=status, body=body, headers=hdrs, **match)

    @classmethod
    def timeout(cls, delay_s: float, *, count: int = 1, **match: Any) -> Fault:
        return cls("timeout", count=count, delay_s=delay_s, **match)

    @classmethod
    def drop_after(cls, *, count: int = 1, **match: Any) -> Fault:
        return cls("drop_after", count=count, **match)

    @classmethod
    def drop_before(cls, *, count: int = 1, **match: Any) -> Fault:
        return cls("drop_before", count=count, **match)

    @classmethod
    def hook(cls, callback: Callable[[Request], None], *, count: int = 1, **match: Any) -> Fault:
        return cls("hook", count=count, callback=callback, **match)

    def matches(self, req: Request) -> bool:
        if self.method and self.method != req.method:
            return False
        return not (self.path_contains and self.path_contains not in req.path)


class _Drop(Exception):
    pass


class StandinServer:
    """Subclasses implement `route(request) -> Response`; state is guarded by `self.lock`."""

    name = "standin"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every answered request
        self.processed = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> StandinServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"{self.name}-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "stand-in not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ faults
    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def pending_faults(self) -> int:
        with self.lock:
            return sum(f.count for f in self.faults)

    def _take_fault(self, req: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and fault.matches(req):
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # ------------------------------------------------------------------ dispatch
    def handle(self, req: Request) -> Response:
        fault = self._take_fault(req)
        if fault is not None:
            if fault.kind == "status":
                return Response(
                    fault.status,
                    fault.body if fault.body is not None else self.error_body(fault.status),
                    dict(fault.headers),
                )
            if fault.kind == "drop_before":
                raise _Drop
            if fault.kind == "timeout":
                time.sleep(fault.delay_s)
        with self.lock:
            response = self.route(req)
            if 200 <= response.status < 300:
                self.processed += 1
        if fault is not None and fault.kind == "drop_after":
            raise _Drop
        if fault is not None and fault.kind == "hook" and fault.callback is not None:
            fault.callback(req)
        return response

    def route(self, req: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        return {"error": {"code": status, "message": "injected fault"}}


def _make_handler(standin: StandinServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # the status line and headers go out in one write, the body in another: with Nagle on, that
        # second small write waited for the client's delayed ACK, ~40 ms added to every answer
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # silence stderr access logs
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            try:
                response = standin.handle(req)
            except _Drop:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            except Exception as exc:  # a stand-in bug must surface as a 500, not a hang
                response = Response(500, {"error": {"message": f"stand-in error: {exc!r}"}})
            payload = response.encoded()
            with standin.lock:
                standin.log.append((req.method, req.path, response.status))
            try:
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                if payload and "Content-Type" not in response.headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout) before the answer

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    return Handler
