"""The landing zone: accepted events appended and fsynced to segment files the events ingestion reads.

Durability: a request's lines are appended to the open segment and ``fdatasync``-ed before its future resolves,
so no 200 leaves before its bytes are on disk. Requests that arrive while a sync runs share the next one
(group commit): one fsync per round, not per request.

Publishing: the open segment is a hidden file (``.<name>.open``) that the ingestion skips (it reads only
``*.jsonl`` files not starting with ``.`` or ``_``). When it reaches its size or age limit it is renamed to
``<name>.jsonl`` in the same folder and the folder is fsynced: the ingestion sees a segment whole or not at all,
and a closed segment is never written again (the loader recognises files by SHA-256, once).

Several processes share one landing zone: every segment name carries host, pid and a random token, and each
process holds an exclusive ``flock`` on its open segment. A process that starts publishes the open segments
no live process holds (left by a crash): it cuts a torn last line (never acknowledged) and renames the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("sen.collect")

OPEN_SUFFIX = ".open"
SEGMENT_SUFFIX = ".jsonl"
SUBFOLDER = "collect"  # under the landing dir; the loader reads sub-folders too (rglob)


class LandingError(RuntimeError):
    """The landing zone could not make a request durable (the client gets 503 and retries)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _final_name(open_path: Path) -> Path:
    name = open_path.name
    assert name.startswith(".") and name.endswith(OPEN_SUFFIX)
    return open_path.with_name(name[1 : -len(OPEN_SUFFIX)] + SEGMENT_SUFFIX)


def recover_orphans(landing_dir: Path) -> list[Path]:
    """Publish open segments no live process holds (left by a crash). Returns the published files."""
    published: list[Path] = []
    root = landing_dir / SUBFOLDER
    if not root.is_dir():
        return published
    for open_path in sorted(root.rglob(f".*{OPEN_SUFFIX}")):
        try:
            fd = os.open(open_path, os.O_RDWR)
        except FileNotFoundError:
            continue  # another starting process published it first
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live collector owns it
            if not open_path.exists():
                continue
            size = os.fstat(fd).st_size
            keep = _complete_prefix(fd, size)
            if keep < size:
                # A partial last line was being written when the process died; it was never acknowledged.
                os.ftruncate(fd, keep)
                log.warning("recovered segment %s: cut %d bytes of a torn last line", open_path, size - keep)
            os.fsync(fd)
            if keep == 0:
                open_path.unlink()
            else:
                final = _final_name(open_path)
                os.rename(open_path, final)
                published.append(final)
            _fsync_dir(open_path.parent)
        finally:
            os.close(fd)
    return published


def _complete_prefix(fd: int, size: int) -> int:
    """Length of the file up to and including its last newline."""
    pos = size
    while pos > 0:
        start = max(0, pos - (1 << 16))
        chunk = os.pread(fd, pos - start, start)
        idx = chunk.rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        pos = start
    return 0


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


@dataclass
class _Round:
    chunks: list[bytes] = field(default_factory=list)
    waiters: list[_Waiter] = field(default_factory=list)
    nbytes: int = 0


class SegmentWriter:
    """One process's writer: a thread that appends, fsyncs and rotates; requests await their round."""

    def __init__(self, landing_dir: Path, max_bytes: int = 64 << 20, max_seconds: float = 60.0):
        self.landing_dir = landing_dir
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._token = f"{socket.gethostname()[:32]}-{os.getpid()}-{secrets.token_hex(3)}"
        self._seq = 0
        self._cond = threading.Condition()
        self._pending = _Round()
        self._stopping = False
        self._fd: int | None = None
        self._open_path: Path | None = None
        self._opened_at = 0.0
        self._size = 0
        self.pending_bytes = 0  # accepted, not yet fsynced: the backpressure measure
        self.published: list[Path] = []
        self.events_written = 0
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        (self.landing_dir / SUBFOLDER).mkdir(parents=True, exist_ok=True)
        for path in recover_orphans(self.landing_dir):
            log.warning("published a segment left open by a stopped collector: %s", path)
        self._thread = threading.Thread(target=self._run, name="sen-collect-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Sync what is queued, publish the open segment, stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- request side ----------------------------------------------------------------------------------------
    async def append(self, lines: list[bytes]) -> None:
        """Queue complete JSON lines; return once they are fsynced (raise LandingError otherwise)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        data = b"".join(lines)
        with self._cond:
            if self._stopping or self._thread is None:
                raise LandingError("the collector is shutting down")
            self._pending.chunks.append(data)
            self._pending.waiters.append(_Waiter(loop, future))
            self._pending.nbytes += len(data)
            self.pending_bytes += len(data)
            self._cond.notify()
        await future

    # -- writer thread ---------------------------------------------------------------------------------------
    def _segment_dir(self) -> Path:
        folder = self.landing_dir / SUBFOLDER / datetime.now(UTC).strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _open_segment(self) -> None:
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        name = f"events-{stamp}-{self._token}-{self._seq:06d}"
        path = self._segment_dir() / f".{name}{OPEN_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _fsync_dir(path.parent)  # the open segment's name survives a crash, so recovery finds it
        self._fd, self._open_path, self._opened_at, self._size = fd, path, time.monotonic(), 0

    def _close_segment(self) -> None:
        if self._fd is None or self._open_path is None:
            return
        fd, path = self._fd, self._open_path
        self._fd = self._open_path = None
        if self._size == 0:
            path.unlink()
            os.close(fd)
            return
        final = _final_name(path)
        os.rename(path, final)  # atomic: the ingestion sees the whole segment or nothing
        _fsync_dir(path.parent)
        os.close(fd)  # the lock goes with the close, after the rename
        self.published.append(final)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _commit(self, batch: _Round) -> None:
        if self._fd is None:
            self._open_segment()
        start = self._size
        try:
            for chunk in batch.chunks:
                self._write_all(chunk)
            os.fdatasync(self._fd)
        except OSError as exc:
            # Take back the partial round so the segment holds only acknowledged lines, then fail the round.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
                os.fdatasync(self._fd)
            log.error("landing zone write failed: %s", exc)
            self._resolve(batch, LandingError(f"the landing zone could not store the events: {exc.strerror}"))
            return
        self._size += batch.nbytes
        self.events_written += sum(c.count(b"\n") for c in batch.chunks)
        self._resolve(batch, None)

    def _resolve(self, batch: _Round, error: Exception | None) -> None:
        with self._cond:
            self.pending_bytes -= batch.nbytes
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
        for waiter in batch.waiters:
            by_loop.setdefault(waiter.loop, []).append(waiter.future)
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, futures, error)

    def _due_rotation(self) -> bool:
        if self._fd is None:
            return False
        if self._size >= self.max_bytes:
            return True
        return self._size > 0 and time.monotonic() - self._opened_at >= self.max_seconds

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending.waiters and not self._stopping:
                    timeout = None
                    if self._fd is not None and self._size > 0:
                        timeout = max(0.0, self.max_seconds - (time.monotonic() - self._opened_at))
                    if not self._cond.wait(timeout=timeout) or self._due_rotation():
                        break
                batch, self._pending = self._pending, _Round()
                stopping = self._stopping
            if batch.waiters:
                self._commit(batch)
            try:
                if self._due_rotation() or (stopping and not batch.waiters):
                    self._close_segment()
            except OSError as exc:
                log.error(
                    "could not publish segment %s: %s (it is published at the next start)",
                    self._open_path,
                    exc,
                )
            if stopping and not batch.waiters:
                return


def _settle(futures: list[asyncio.Future], error: Exception | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def disk_free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize
