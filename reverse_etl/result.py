"""The outcome of one sync run, as stored in sync.sync_runs and shown as Dagster metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass
class SyncResult:
    run_id: str
    sync_name: str
    destination: str
    mode: str
    dry_run: bool
    started_at: datetime
    status: str = "running"  # running | success | failed
    finished_at: datetime | None = None
    duration_s: float = 0.0
    source_rows: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    rejected: int = 0
    sent_rows: int = 0
    requests: int = 0
    retries: int = 0
    unattributed_invalid: int = 0
    output_file: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for dagster.MaterializeResult(metadata=...)."""
        meta: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "source_rows": self.source_rows,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "sent_rows": self.sent_rows,
            "requests": self.requests,
            "retries": self.retries,
            "duration_s": round(self.duration_s, 3),
        }
        if self.unattributed_invalid:
            meta["unattributed_invalid"] = self.unattributed_invalid
        if self.output_file:
            meta["output_file"] = self.output_file
        if self.error:
            meta["error"] = self.error
        return meta
