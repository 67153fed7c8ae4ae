"""Settings of the event collector, read from environment variables (folded into sen/settings.py later).

- ``CDP_COLLECT_WRITE_KEYS`` (required): the write key of each source, ``web=KEY,ios=KEY,android=KEY,server=KEY``
  (any source names made of letters, digits, ``_`` and ``-``). A request whose write key is not listed is
  refused with 401. Keys are secrets of a kind: they are never logged and never written to the landing zone.
- ``CDP_COLLECT_LANDING_DIR``: where segment files land (default ``$CDP_DATA_DIR/events``, the folder the events
  ingestion reads). One of the two must be set: the committed sample folder is never written to.
- ``CDP_COLLECT_HOST`` / ``CDP_COLLECT_PORT`` (default ``127.0.0.1`` / ``8088``), ``CDP_COLLECT_WORKERS``
  (processes, default 1).
- ``CDP_COLLECT_SEGMENT_MAX_BYTES`` (default 64 MiB) and ``CDP_COLLECT_SEGMENT_MAX_SECONDS`` (default 60): an open
  segment is closed and published to the ingestion when it reaches either.
- ``CDP_COLLECT_MAX_PENDING_BYTES`` (default 32 MiB): accepted bytes still waiting for their fsync above which new
  requests get 429 (the disk does not keep up).
- ``CDP_COLLECT_MIN_FREE_BYTES`` (default 1 GiB): free space on the landing file system below which new requests
  get 429 (the landing zone is not being drained or archived).
- ``CDP_COLLECT_CORS_ORIGINS``: comma-separated origins allowed to post from a browser (default ``*``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

SOURCE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CollectSettingsError(ValueError):
    """A collector setting is missing or malformed; the message names the variable (never a key's value)."""


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise CollectSettingsError(f"{name}={raw!r} is not an integer") from exc
    if value < minimum:
        raise CollectSettingsError(f"{name}={value} is below the minimum {minimum}")
    return value


def parse_write_keys(raw: str, variable: str = "CDP_COLLECT_WRITE_KEYS") -> dict[str, str]:
    """``web=KEY,ios=KEY`` -> {KEY: source}. Errors name the entry's position and source, never the key."""
    keys: dict[str, str] = {}
    for position, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        source, sep, key = entry.partition("=")
        source, key = source.strip(), key.strip()
        if not sep or not key:
            raise CollectSettingsError(f"{variable}: entry {position} is not of the form source=writeKey")
        if not SOURCE_NAME.match(source):
            raise CollectSettingsError(
                f"{variable}: entry {position}: source name {source!r} must be letters, digits, '_' or '-'"
            )
        if key in keys:
            raise CollectSettingsError(
                f"{variable}: entry {position} ({source}) repeats the write key of source {keys[key]!r}"
            )
        keys[key] = source
    if not keys:
        raise CollectSettingsError(
            f"{variable} is empty: set one write key per source, e.g. web=...,ios=...,android=...,server=..."
        )
    return keys


@dataclass(frozen=True)
class CollectSettings:
    write_keys: dict[str, str]  # write key -> source name
    landing_dir: Path
    host: str = "127.0.0.1"
    port: int = 8088
    workers: int = 1
    segment_max_bytes: int = 64 << 20
    segment_max_seconds: float = 60.0
    max_pending_bytes: int = 32 << 20
    min_free_bytes: int = 1 << 30
    cors_origins: tuple[str, ...] = ("*",)

    def __repr__(self) -> str:  # the keys stay out of logs and tracebacks
        sources = sorted(set(self.write_keys.values()))
        return (
            f"CollectSettings(sources={sources}, landing_dir={str(self.landing_dir)!r}, host={self.host!r}, "
            f"port={self.port}, workers={self.workers}, segment_max_bytes={self.segment_max_bytes}, "
            f"segment_max_seconds={self.segment_max_seconds}, max_pending_bytes={self.max_pending_bytes}, "
            f"min_free_bytes={self.min_free_bytes}, cors_origins={list(self.cors_origins)})"
        )

    __str__ = __repr__

    @classmethod
    def from_env(cls) -> CollectSettings:
        raw_keys = os.environ.get("CDP_COLLECT_WRITE_KEYS", "")
        if not raw_keys.strip():
            raise CollectSettingsError(
                "CDP_COLLECT_WRITE_KEYS is not set: give one write key per source, "
                "e.g. CDP_COLLECT_WRITE_KEYS=web=...,ios=...,android=...,server=..."
            )
        landing = os.environ.get("CDP_COLLECT_LANDING_DIR") or ""
        if not landing.strip():
            data_dir = os.environ.get("CDP_DATA_DIR") or ""
            if not data_dir.strip():
                raise CollectSettingsError(
                    "set CDP_DATA_DIR (events land in $CDP_DATA_DIR/events, the folder the ingestion reads) "
                    "or CDP_COLLECT_LANDING_DIR; the collector never writes into the committed sample"
                )
            landing = str(Path(data_dir) / "events")
        origins = tuple(
            o.strip() for o in os.environ.get("CDP_COLLECT_CORS_ORIGINS", "*").split(",") if o.strip()
        )
        return cls(
            write_keys=parse_write_keys(raw_keys),
            landing_dir=Path(landing).expanduser().resolve(),
            host=os.environ.get("CDP_COLLECT_HOST", "127.0.0.1").strip() or "127.0.0.1",
            port=_int("CDP_COLLECT_PORT", 8088, minimum=0),
            workers=_int("CDP_COLLECT_WORKERS", 1, minimum=1),
            segment_max_bytes=_int("CDP_COLLECT_SEGMENT_MAX_BYTES", 64 << 20, minimum=1),
            segment_max_seconds=float(_int("CDP_COLLECT_SEGMENT_MAX_SECONDS", 60, minimum=1)),
            max_pending_bytes=_int("CDP_COLLECT_MAX_PENDING_BYTES", 32 << 20, minimum=1),
            min_free_bytes=_int("CDP_COLLECT_MIN_FREE_BYTES", 1 << 30, minimum=0),
            cors_origins=origins or ("*",),
        )
