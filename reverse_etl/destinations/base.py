"""What every destination provides: a config model (validated from YAML), field rules and a client.

Three kinds of destination:
- batch: records or audience members sent in batches (Meta, Google, Klaviyo, webhook);
- message: one message per row, not idempotent (FCM, Zalo);
- file: a CSV/Parquet file written per run.
"""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from reverse_etl.http import HttpSender, RequestStats, RetryPolicy
from reverse_etl.identifiers import TRANSFORMS
from reverse_etl.ratelimit import limiter_for
from reverse_etl.state_schema import to_state

if TYPE_CHECKING:
    import duckdb

Kind = Literal["batch", "message", "file"]
# channels frequency caps count (sen.segments.campaigns.MESSAGING_CHANNELS; a test keeps them equal)
MessagingChannel = Literal["email", "push", "sms", "zalo"]
Delivery = Literal["at_most_once", "at_least_once"]


class RetrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(6, ge=1, le=50)
    initial_backoff_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(30.0, ge=0)
    jitter_s: float = Field(0.5, ge=0)
    max_retry_after_s: float = Field(300.0, ge=0)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(**self.model_dump())


@dataclass(frozen=True)
class FieldSpec:
    """How one mapped destination field is prepared."""

    transform: str  # key of identifiers.TRANSFORMS
    match_key: bool = False  # an identifier the destination can match a person on


class DestinationConfig(BaseModel):
    """Settings shared by every destination (subclasses add theirs and a literal `type`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[Kind] = "batch"
    default_base_url: ClassVar[str] = ""
    max_batch_size: ClassVar[int] = 10_000
    default_rate_per_s: ClassVar[float] = 10.0
    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert"})
    channel: ClassVar[str | None] = None  # contact ledger channel for message destinations
    ad_audience: ClassVar[bool] = False  # an ad platform audience: membership is never a contact
    # groups of fields of which one complete group must be valid for the row to be sendable
    match_groups: ClassVar[tuple[tuple[str, ...], ...]] = ()
    allow_custom_transforms: ClassVar[bool] = False
    secret_fields: ClassVar[tuple[str, ...]] = ()

    base_url: str | None = None
    base_url_env: str | None = Field(None, description="environment variable holding the base URL")
    batch_size: int | None = Field(None, ge=1)
    rate_limit_per_s: float | None = Field(None, gt=0)
    rate_limit_burst: float | None = Field(None, ge=1)
    timeout_s: float = Field(30.0, gt=0)
    max_in_flight: int = Field(1, ge=1, le=16, description="batches sent concurrently (lanes)")
    commit_every_batches: int = Field(10, ge=1, description="acknowledged batches committed together")
    retry: RetrySettings = RetrySettings()

    # ------------------------------------------------------------------ field rules
    def field_spec(self, name: str) -> FieldSpec | None:
        """The rule for mapped field `name`, or None when the destination has no such field."""
        return None

    def allowed_fields_hint(self) -> str:
        return ""

    def resolved_base_url(self) -> str:
        if self.base_url_env and os.environ.get(self.base_url_env):
            return os.environ[self.base_url_env].rstrip("/")
        return (self.base_url or self.default_base_url).rstrip("/")

    def effective_batch_size(self) -> int:
        return min(self.batch_size or self.max_batch_size, self.max_batch_size)

    def destination_key(self) -> str | None:
        """Names the destination object (one audience, one list) so syncs sharing it can see each other."""
        return None

    def ledger_channel(self) -> str | None:
        """The contact ledger channel of the messages this destination causes, None if it sends none.

        Message destinations send one message per row; a list or tool that messages members when they
        are added opts in (`contact_on_add`)."""
        return self.channel if self.kind == "message" else None

    # ------------------------------------------------------------------ checks of the sync using it
    def check_sync(self, mode: str, mapped: frozenset[str]) -> None:
        """This destination's own rules for a sync that uses it (a field a mode needs, a setting that
        may come from the mapping...), on top of the declared modes, fields and match groups that
        config.py checks for every destination. Raise ValueError naming the field first
        (`mapping.email: ...`): the sync file's name is added to it."""

    def check_campaign(self, campaign: str | None) -> None:
        """A sync that causes messages names its campaign (written to the contact ledger, which
        frequency caps read); a sync that causes none must not, so nobody believes caps count it."""
        if self.ledger_channel() is not None and not campaign:
            raise ValueError(
                f"campaign: required for {self._campaign_needed_by()} (it is written to the contact ledger)"
            )
        if self.ledger_channel() is None and campaign:
            raise ValueError(f"campaign: {self._why_no_ledger()}; remove campaign")

    def _campaign_needed_by(self) -> str:
        return "message destinations"

    def _why_no_ledger(self) -> str:
        name = self.type  # type: ignore[attr-defined]  # every subclass declares its literal `type`
        if self.ad_audience:
            return f"{name!r} is an ad audience: it sends no message and writes no contact ledger rows"
        return f"{name!r} sends no message and writes no contact ledger rows"

    def extra_rejections(self, field_sql: dict[str, str]) -> list[tuple[str, str]]:
        """Extra (condition SQL, reason) checks run in the warehouse before sending."""
        return []

    def build_client(self, stats: RequestStats, sync_name: str) -> Destination:
        raise NotImplementedError


class ContactOnAddConfig(DestinationConfig):
    """A list or tool that may itself message a member when the member is added: `contact_on_add: true`
    says it does, so every acknowledged add is a contact (contact ledger rows, with the sync's campaign)."""

    contact_on_add: bool = False

    def ledger_channel(self) -> str | None:
        return self.channel if self.contact_on_add else None

    def _campaign_needed_by(self) -> str:
        return "syncs with contact_on_add"

    def _why_no_ledger(self) -> str:
        return (
            "written to the contact ledger only with destination.contact_on_add: true "
            "(set it when adding a member makes the tool send a message)"
        )


def json_object_strings(value: Any, *, field: str) -> dict[str, str]:
    """A JSON-object column (text) as {key: string}: destinations such as FCM and Zalo take string values.

    Nulls are left out; a value that is not a JSON object raises ValueError naming the field."""
    if value is None or value == "":
        return {}
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise ValueError(f"{field}: not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{field}: expected a JSON object")
    return {
        str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        for k, v in parsed.items()
        if v is not None
    }


def validate_transform_name(name: str) -> str:
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(sorted(TRANSFORMS))}")
    return name


# ---------------------------------------------------------------------- what clients receive / return


@dataclass
class Batch:
    """One batch of planned rows, read from the warehouse on demand."""

    conn: duckdb.DuckDBPyConnection
    plan_table: str
    group: str  # 'add' or 'remove' (or 'replace')
    index: int
    count: int  # number of batches in this group
    total_rows: int  # rows in this group
    fields: tuple[str, ...]  # mapped destination fields, in mapping order
    op: str  # destination operation: 'upsert' | 'remove' | 'replace'
    lanes: int = 1  # batches are dealt round-robin to this many sequential lanes (sessions)
    _rows: list[dict[str, Any]] | None = None

    @property
    def lane(self) -> int:
        return self.index % self.lanes

    @property
    def seq(self) -> int:
        """1-based position of this batch within its lane."""
        return self.index // self.lanes + 1

    @property
    def is_last(self) -> bool:
        """The last batch of its lane."""
        return self.index + self.lanes >= self.count

    def _where(self) -> str:
        return f"__group = '{self.group}' AND __batch = {int(self.index)} AND __reject IS NULL"

    def rows(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by field name plus '__pk' and '__person_id', ordered by primary key."""
        if self._rows is None:
            cols = ", ".join(f'"f_{f}"' for f in self.fields)
            sql = (
                f"SELECT __pk, __person_id, {cols} FROM {self.plan_table} WHERE {self._where()} ORDER BY __pk"
            )
            out = []
            for rec in self.conn.execute(sql).fetchall():
                row = {"__pk": rec[0], "__person_id": rec[1]}
                row.update(zip(self.fields, rec[2:], strict=True))
                out.append(row)
            self._rows = out
        return self._rows

    def json_rows(
        self, fields: tuple[str, ...], missing: str = "", exclude: list[str] | None = None
    ) -> tuple[str, int]:
        """(JSON array of arrays of the given fields, row count), built in SQL: the fast path for big
        audiences (row order inside a batch is irrelevant, so no sort). `exclude`: primary keys left out."""
        text, n = self.json_rows_utf8(fields, missing, exclude)
        return text.decode("utf-8"), n

    def json_rows_utf8(
        self, fields: tuple[str, ...], missing: str = "", exclude: list[str] | None = None
    ) -> tuple[bytes, int]:
        """`json_rows` as UTF-8 bytes straight from DuckDB: a request body needs no decode and re-encode
        of megabytes of hashes."""
        items = ", ".join(f"coalesce(\"f_{f}\", '{missing}')" for f in fields)
        skip = " AND NOT list_contains($exclude, __pk)" if exclude else ""
        sql = (
            f"SELECT encode(coalesce(CAST(to_json(list([{items}])) AS VARCHAR), '[]')), count(*) "
            f"FROM {self.plan_table} WHERE {self._where()}{skip}"
        )
        data, n = self.conn.execute(sql, {"exclude": exclude} if exclude else None).fetchone()
        return bytes(data), int(n)

    def pks_shared_with(
        self, tables: list[str], fields: tuple[str, ...], columns: list[dict[str, str]]
    ) -> set[str]:
        """Primary keys of rows in this batch whose value of one of `fields` is also held by one of
        `tables` (other syncs' state; `columns` maps each table's columns to their types: a digest is
        stored as bytes)."""
        selects = []
        for table, cols in zip(tables, columns, strict=True):
            for f in fields:
                if f"f_{f}" not in cols:
                    continue
                mine = to_state(f'p."f_{f}"', cols[f"f_{f}"] == "BLOB")
                selects.append(
                    f'SELECT p.__pk FROM {self.plan_table} p JOIN {table} o ON o."f_{f}" = {mine} '
                    f"WHERE p.__group = '{self.group}' AND p.__batch = {int(self.index)} AND p.__reject IS NULL"
                )
        if not selects:
            return set()
        return {r[0] for r in self.conn.execute(" UNION ".join(selects)).fetchall()}

    def pks(self) -> list[str]:
        """Primary keys of the rows in this batch."""
        sql = f"SELECT __pk FROM {self.plan_table} WHERE {self._where()}"
        return [r[0] for r in self.conn.execute(sql).fetchall()]

    def pks_where_any(self, fields: tuple[str, ...], values: list[str]) -> list[str]:
        """Primary keys of rows in this batch holding one of `values` in one of `fields`."""
        if not values or not fields:
            return []
        cond = " OR ".join(f'list_contains($vals, "f_{f}")' for f in fields)
        sql = f"SELECT __pk FROM {self.plan_table} WHERE {self._where()} AND ({cond}) ORDER BY __pk"
        return [r[0] for r in self.conn.execute(sql, {"vals": values}).fetchall()]


@dataclass
class BatchOutcome:
    """What the destination acknowledged for a batch."""

    rejected: dict[str, str] = field(default_factory=dict)  # primary key -> reason
    created: dict[str, bool] | None = None  # primary key -> created by this sync (None: unknown)
    sent_rows: int = 0
    unattributed_invalid: int = 0  # rows the destination counted invalid without naming them (Meta)


MessageStatus = Literal["sent", "rejected", "unknown", "failed"]


@dataclass
class MessageOutcome:
    status: MessageStatus
    reason: str | None = None
    message_id: str | None = None
    dead_token: str | None = None  # a push token the destination declared unregistered


class Destination(ABC):  # noqa: B024 - the kinds below declare the abstract methods
    """A client bound to one sync's destination config."""

    def __init__(self, config: DestinationConfig, stats: RequestStats, sync_name: str) -> None:
        self.config = config
        self.sync_name = sync_name
        self.stats = stats
        self.base_url = config.resolved_base_url()
        self.sync_mode = "upsert"  # the sync's mode, set by the engine
        self._sender: HttpSender | None = None
        self._sender_lock = threading.Lock()  # lanes and message workers ask for it concurrently

    def sender(self, *, type_name: str) -> HttpSender:
        with self._sender_lock:
            return self._make_sender(type_name)

    def _make_sender(self, type_name: str) -> HttpSender:
        if self._sender is None:
            rate = self.config.rate_limit_per_s or self.config.default_rate_per_s
            self._sender = HttpSender(
                self.base_url,
                timeout_s=self.config.timeout_s,
                policy=self.config.retry.policy(),
                limiter=limiter_for(type_name, self.base_url, rate, self.config.rate_limit_burst),
                stats=self.stats,
            )
        return self._sender

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sync={self.sync_name!r}, base_url={self.base_url!r})"


class BatchDestination(Destination):
    """Sends batches in three steps so HTTP can overlap with warehouse work:
    `prepare` (main thread, may read the warehouse), `transmit` (a lane thread, HTTP only, never touches
    DuckDB), `finish` (main thread, turns the answer into a BatchOutcome)."""

    def lanes(self, op: str) -> int:
        """How many batches may be in flight at once (each lane sends its batches in order)."""
        return 1 if op == "replace" else max(1, self.config.max_in_flight)

    def begin_group(self, group: str, total_rows: int, batches: int, lanes: int) -> list[dict[str, Any]]:
        """Per-lane session state for one group of batches."""
        return [{} for _ in range(lanes)]

    def end_group(self, group: str, op: str) -> None:
        """Called once every batch of the group was acknowledged (e.g. to complete a replace-all)."""

    def confirm(self, group: str) -> BatchOutcome:
        """Once every batch of the group was acknowledged and before `end_group`: what a destination that
        processes requests asynchronously reported failing (`rejected` by primary key, or counted in
        `unattributed_invalid`). The engine takes those rows back out of state. Default: nothing."""
        return BatchOutcome()

    def replace_with_nothing(self) -> bool:
        """Empty the destination when a replace-mode audience has become empty; False if impossible."""
        return False

    @abstractmethod
    def prepare(self, batch: Batch, session: dict[str, Any]) -> Any:
        """Build the request(s) for a batch."""

    @abstractmethod
    def transmit(self, prepared: Any) -> Any:
        """Send what `prepare` built; raise after retries are exhausted."""

    def finish(self, batch: Batch, prepared: Any, answer: Any) -> BatchOutcome:
        return answer if isinstance(answer, BatchOutcome) else BatchOutcome()

    def expected_outcome(self, batch: Batch, prepared: Any) -> BatchOutcome | None:
        """The outcome if the destination accepts every row, as far as it is known before the answer
        (the engine writes state ahead on it and keeps that write only if the answer matches); None
        when the answer decides more than rejections (e.g. which rows it created)."""
        return BatchOutcome()

    def send(self, batch: Batch, session: dict[str, Any]) -> BatchOutcome:
        prepared = self.prepare(batch, session)
        return self.finish(batch, prepared, self.transmit(prepared))


class MessageDestination(Destination):
    delivery: Delivery = "at_most_once"

    @abstractmethod
    def send_message(self, row: dict[str, Any], message_key: str) -> MessageOutcome:
        """Send one message; never raises for per-message failures (returns the outcome instead)."""


class FileDestination(Destination):
    @abstractmethod
    def write(
        self, conn: duckdb.DuckDBPyConnection, select_sql: str, run_id: str, write_hook: Callable | None
    ) -> str:
        """Write the rows of `select_sql` and return the final file path."""
