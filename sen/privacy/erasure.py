"""Carrying out right-to-be-forgotten requests: the erased person's data is deleted from every layer.

Runs once per build, after the marts, audiences and syncs (the syncs need the person's last-sent identifiers
to remove them from each destination); the serving step may publish before or after it, as it rewrites the
serving copy and every kept Parquet version itself (docs/privacy.md):

1. the erased persons are those of `intermediate.int_erased_persons` (a request's email, phone or customer id,
   resolved by identity resolution to one person and everything linked to them);
2. their identifiers, records and ids are collected: the identity map, the records of
   `intermediate.int_record_persons`, the raw values of those records;
3. the files the product keeps are rewritten without them: file exports, every serving Parquet version and
   the serving DuckDB copy (all swapped in atomically);
4. in one warehouse transaction: the salted hashes of their identifiers and record keys join the suppression
   list (`raw._erased_identifiers`), their raw rows are deleted (other persons' rows keep everything but an
   erased identifier), every derived table (staging, intermediate, identity, marts, audiences, sync, CLV...)
   loses their rows, and the requests keep only their id and date (identifiers emptied, `raw._erasure_log`
   says what was done).

A crash before the commit leaves the requests pending, so the next run does it all again. The ingestion
applies the suppression list to every new load (`filter_load`), so an export that still holds the person
(a file left in CDP_DATA_DIR, tomorrow's full CRM export) does not bring them back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from sen.normalize.duckdb_udfs import register_udfs
from sen.normalize.rules import DEFAULT_PHONE_REGION
from sen.privacy import scrub
from sen.privacy.suppression import (
    RECORD_SOURCES,
    RULES,
    add_hashes,
    apply_suppression,
    ensure_suppression_table,
    has_suppressions,
    identifiers_of_rows,
    other_salts,
    raw_texts_of_rows,
)

log = logging.getLogger(__name__)

REQUESTS = 'raw."erasure_requests"'
LOG_TABLE = "raw._erasure_log"
# One row per table an erasure (or a load filtered by the suppression list) changed: what was done, never to whom.
LOG_DDL = f"""
    create table if not exists {LOG_TABLE} (
        erasure_id varchar not null,      -- one erasure run, or load:<file sha256> for a filtered load
        processed_at timestamptz not null,
        request_ids varchar[],            -- the requests carried out (ids only; their identifiers are emptied)
        persons_erased bigint,
        table_name varchar,               -- raw.<source>, a derived table, or a file path
        rows_deleted bigint not null,
        rows_cleared bigint not null      -- rows kept with an erased value emptied (another person's row)
    )"""
REQUEST_IDENTIFIERS = ("customer_id", "email", "phone")
# Record key of each record_source as int_identifier_occurrences builds it from the raw columns.
RECORD_KEY_SQL = {
    "events": "trim(message_id)",
    "crm": "coalesce(sen_normalize_identifier(cast(customer_id as varchar), 'customer_id'), trim(customer_id))",
    "orders": "trim(order_id)",
    "pos": "trim(transaction_id)",
    "chat": "trim(conversation_id)",
    "support": "trim(ticket_id)",
    "surveys": "trim(response_id)",
    "consent": "trim(change_id)",
    "email_events": "trim(event_id)",
}
# Sync tables that are the record of what a destination holds: a row there is the only way to remove the
# person from that destination, so it is kept until the sync has removed it (counted as pending).
DESTINATION_RECORDS = ("state__", "in_flight__")


class ErasureError(RuntimeError):
    """An erasure cannot be carried out as asked (e.g. no salt where one is required)."""


@dataclass
class ErasureReport:
    requests: list[str] = field(default_factory=list)
    persons: int = 0
    suppressed_new: int = 0
    raw_rows_deleted: dict[str, int] = field(default_factory=dict)
    raw_rows_cleared: dict[str, int] = field(default_factory=dict)
    derived_rows_deleted: dict[str, int] = field(default_factory=dict)
    derived_cells_cleared: dict[str, int] = field(default_factory=dict)
    files_rewritten: dict[str, int] = field(default_factory=dict)
    pending_destination: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, object]:
        return {
            "requests_processed": len(self.requests),
            "persons_erased": self.persons,
            "suppressed_hashes_added": self.suppressed_new,
            "raw_rows_deleted": sum(self.raw_rows_deleted.values()),
            "raw_rows_cleared": sum(self.raw_rows_cleared.values()),
            "derived_rows_deleted": sum(self.derived_rows_deleted.values()),
            "derived_cells_cleared": sum(self.derived_cells_cleared.values()),
            "files_rewritten": len(self.files_rewritten),
            "pending_destination_rows": sum(self.pending_destination.values()),
        }


def _exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        conn.execute(
            """select 1 from duckdb_tables() where database_name = current_database()
               and schema_name = ? and table_name = ?
               union all
               select 1 from duckdb_views() where database_name = current_database()
               and schema_name = ? and view_name = ?""",
            [schema, table, schema, table],
        ).fetchall()
    )


def pending_requests(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(request_id, requested_at) of the requests still holding an identifier (not processed yet)."""
    if not _exists(conn, "raw", "erasure_requests"):
        return []
    held = " or ".join(f"nullif(trim({c}), '') is not null" for c in REQUEST_IDENTIFIERS)
    return [
        (r, a)
        for r, a in conn.execute(
            f"select distinct trim(request_id), requested_at from {REQUESTS} where {held} order by 1"
        ).fetchall()
    ]


def _request_identifiers(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    register_udfs(conn)
    held = " or ".join(f"nullif(trim({c}), '') is not null" for c in REQUEST_IDENTIFIERS)
    rows = conn.execute(
        f"""select sen_normalize_identifier(cast(customer_id as varchar), 'customer_id'),
                   sen_normalize_email(cast(email as varchar)),
                   sen_normalize_phone(cast(phone as varchar), '{DEFAULT_PHONE_REGION}'),
                   customer_id, email, phone
            from {REQUESTS} where {held}"""
    ).fetchall()
    found: list[tuple[str, str]] = []
    for customer_id, email, phone, *raw in rows:
        found += [(t, v) for t, v in zip(REQUEST_IDENTIFIERS, (customer_id, email, phone), strict=True) if v]
        found += [("raw", v) for v in raw if v]
    return found


def _erased_persons(conn: duckdb.DuckDBPyConnection) -> list[str]:
    if not _exists(conn, "intermediate", "int_erased_persons"):
        raise ErasureError(
            "intermediate.int_erased_persons is missing: build the dbt models before processing erasure requests"
        )
    return [
        p
        for (p,) in conn.execute("select distinct person_id from intermediate.int_erased_persons").fetchall()
        if p
    ]


@dataclass
class _Collected:
    persons: list[str]
    hashes: set[tuple[str, str]] = field(default_factory=set)  # (type, normalized value) to suppress
    row_tokens: set[str] = field(default_factory=set)
    value_tokens: set[str] = field(default_factory=set)
    identity_keys: set[int] = field(default_factory=set)


def _collect(conn: duckdb.DuckDBPyConnection, persons: list[str]) -> _Collected:
    """Everything that names the persons: identifiers, records, raw values, identity keys."""
    got = _Collected(persons=persons)
    got.row_tokens.update(persons)
    conn.execute("create or replace temp table _sen_erased_persons (person_id varchar)")
    conn.executemany("insert into _sen_erased_persons values (?)", [[p] for p in persons])
    uncut = ""
    if _exists(conn, "identity", "identifier_person_map"):
        # An identifier the guards cut (a junk value, a kiosk device) belongs to no one: never suppressed, or
        # every later row carrying it would go.
        columns = {
            d[0] for d in conn.execute("select * from identity.identifier_person_map limit 0").description
        }
        uncut = "and cut_reason is null" if "cut_reason" in columns else ""
        for t, v in conn.execute(
            f"""select distinct identifier_type, identifier_value from identity.identifier_person_map
                where person_id in (select person_id from _sen_erased_persons) {uncut}"""
        ).fetchall():
            got.hashes.add((t, v))
            got.value_tokens.add(v)
    if _exists(conn, "intermediate", "int_identifier_keys"):
        columns = {
            d[0] for d in conn.execute("select * from intermediate.int_identifier_keys limit 0").description
        }
        if {"identifier_key", "identifier_type", "identifier_value"} <= columns:
            conn.execute(
                "create or replace temp table _sen_erased_ids (identifier_type varchar, identifier_value varchar)"
            )
            conn.execute(
                f"""insert into _sen_erased_ids select distinct identifier_type, identifier_value
                    from identity.identifier_person_map
                    where person_id in (select person_id from _sen_erased_persons) {uncut}"""
            )
            got.identity_keys.update(
                k
                for (k,) in conn.execute(
                    """select k.identifier_key from intermediate.int_identifier_keys k
                       inner join _sen_erased_ids e
                           on k.identifier_type = e.identifier_type and k.identifier_value = e.identifier_value"""
                ).fetchall()
            )
    for t, v in _request_identifiers(conn):
        if t == "raw":
            got.value_tokens.add(v)
        else:
            got.hashes.add((t, v))
            got.value_tokens.add(v)
    conn.execute(
        "create or replace temp table _sen_erased_records (record_source varchar, record_id varchar)"
    )
    if _exists(conn, "intermediate", "int_record_persons"):
        conn.execute(
            """insert into _sen_erased_records
               select distinct record_source, record_id from intermediate.int_record_persons
               where person_id in (select person_id from _sen_erased_persons) and record_source <> 'erasure'"""
        )
    register_udfs(conn)
    theirs = {(t, v) for t, v in got.hashes}
    for record_source, source in RECORD_SOURCES.items():
        key = RECORD_KEY_SQL[record_source]
        where = (
            f"{key} in (select record_id from _sen_erased_records where record_source = '{record_source}')"
        )
        # their records' keys; and every raw spelling of one of their identifiers, to find it downstream
        for t, v in identifiers_of_rows(conn, source, where):
            if t.startswith("record:"):
                got.hashes.add((t, v))
                got.row_tokens.add(v)
        for t, raw, normalized in raw_texts_of_rows(conn, source, where):
            if t == "record" or (t, normalized) in theirs:
                got.value_tokens.add(raw)
        got.hashes.update(
            (f"record:{record_source}", r)
            for (r,) in conn.execute(
                "select record_id from _sen_erased_records where record_source = ?", [record_source]
            ).fetchall()
        )
    got.row_tokens.update(
        r for (r,) in conn.execute("select record_id from _sen_erased_records").fetchall() if r
    )
    got.value_tokens -= got.row_tokens
    # Text too short or too common to name anyone is not a token (it would match other rows exactly).
    got.value_tokens = {v for v in got.value_tokens if len(v.strip()) >= 4}
    return got


def _scrub_identity(conn: duckdb.DuckDBPyConnection, got: _Collected, report: ErasureReport) -> None:
    """The identity tables that hold integers (keys) rather than the values the generic scrub finds."""
    if not got.identity_keys:
        return
    keys = sorted(got.identity_keys)
    targets = [
        ("identity", "identifier_persons", ("identifier_key",)),
        ("intermediate", "int_identity_nodes", ("identifier_key", "node_key", "key")),
        ("intermediate", "int_identity_edges", ("key_a", "key_b", "id_a", "id_b")),
    ]
    for schema, table, candidates in targets:
        if not _exists(conn, schema, table):
            continue
        columns = {
            d[0]: str(d[1]) for d in conn.execute(f'select * from {schema}."{table}" limit 0').description
        }
        usable = [c for c in candidates if c in columns and "INT" in columns[c].upper()]
        if not usable:
            continue
        match = " or ".join(f'list_contains($keys, "{c}")' for c in usable)
        n = conn.execute(f'select count(*) from {schema}."{table}" where {match}', {"keys": keys}).fetchall()[
            0
        ][0]
        if n:
            conn.execute(f'delete from {schema}."{table}" where {match}', {"keys": keys})
            report.derived_rows_deleted[f"{schema}.{table}"] = (
                report.derived_rows_deleted.get(f"{schema}.{table}", 0) + n
            )


def _tombstone_persons(conn: duckdb.DuckDBPyConnection, report: ErasureReport) -> None:
    """identity.persons is positional (a person's key is its row: sen.identity.store), so an erased person's
    row stays with a random id no one can link to them; the next identity run finds it holds no identifier
    and drops it."""
    if not _exists(conn, "identity", "persons"):
        return
    n = conn.execute(
        f"select count(*) from identity.persons where person_id in (select t from {scrub.ROW_TOKENS})"
    ).fetchall()[0][0]
    if n:
        conn.execute(
            "update identity.persons set person_id = 'erased-' || replace(cast(uuid() as varchar), '-', '') "
            f"where person_id in (select t from {scrub.ROW_TOKENS})"
        )
        report.derived_cells_cleared["identity.persons"] = n


def _export_folders(sync_dir: Path | None) -> list[Path]:
    if sync_dir is None:
        return []
    from reverse_etl.config import load_syncs  # reverse_etl is optional for the core library

    folders = []
    for cfg in load_syncs(sync_dir):
        if getattr(cfg.destination, "type", None) == "file_export":
            try:
                folders.append(cfg.destination.resolved_directory() / cfg.name)
            except ValueError:
                continue
    return folders


def serving_folders(serving_path: Path | None) -> list[Path]:
    """Every serving Parquet version folder (sen.serving keeps the previous ones for readers)."""
    if serving_path is None:
        return []
    root = serving_path.with_name(f"{serving_path.stem}_parquet")
    return [root] if root.is_dir() else []


def process_erasures(
    conn: duckdb.DuckDBPyConnection,
    salt: str,
    *,
    sync_dir: Path | None = None,
    serving_path: Path | None = None,
    extra_folders: Iterable[Path] = (),
    now: datetime | None = None,
) -> ErasureReport:
    """Carry out every pending erasure request (module docstring). Idempotent: nothing pending, nothing done."""
    report = ErasureReport()
    now = now or datetime.now(UTC)
    ensure_suppression_table(conn)
    if (n := other_salts(conn, salt)) and has_suppressions(conn):
        report.warnings.append(
            f"{n} suppression entries were hashed with another CDP_ERASURE_SALT and no longer match new loads; "
            "restore the previous salt (docs/privacy.md)"
        )
    requests = pending_requests(conn)
    if not requests:
        return report
    report.requests = [r for r, _ in requests]
    persons = _erased_persons(conn)
    report.persons = len(persons)
    got = _collect(conn, persons)

    # Files first: a crash after this leaves the requests pending, so the next run redoes everything.
    files = duckdb.connect()
    try:
        scrub.load_tokens(files, got.row_tokens, got.value_tokens)
        folders = [*_export_folders(sync_dir), *serving_folders(serving_path), *extra_folders]
        report.files_rewritten.update(scrub.scrub_files(files, folders))
        if serving_path is not None and (n := scrub.scrub_duckdb_copy(files, serving_path)):
            report.files_rewritten[str(serving_path)] = n
    finally:
        files.close()

    conn.execute("begin transaction")
    try:
        report.suppressed_new = add_hashes(conn, salt, got.hashes, now)
        for source in RULES:
            result = apply_suppression(conn, source, salt)
            if result.rows_deleted:
                report.raw_rows_deleted[source] = result.rows_deleted
            if result.rows_cleared:
                report.raw_rows_cleared[source] = result.rows_cleared
        _scrub_identity(conn, got, report)
        scrub.load_tokens(conn, got.row_tokens, got.value_tokens)
        _tombstone_persons(conn, report)
        database = conn.execute("select current_database()").fetchall()[0][0]
        # raw source tables were handled by their rules; the loader's own tables (quarantine) are scrubbed here.
        raw_sources = {
            t
            for (t,) in conn.execute(
                "select table_name from duckdb_tables() where database_name = current_database() and schema_name = 'raw'"
            ).fetchall()
            if not t.startswith("_")
        }
        result = scrub.ScrubResult()
        for schema, table in scrub.base_tables(conn, database):
            if schema == "raw" and (table in raw_sources or table in ("_erased_identifiers", "_erasure_log")):
                continue
            if table.startswith(DESTINATION_RECORDS):
                columns = [c for c, _ in scrub._varchar_columns(conn, database, schema, table)]
                match = (
                    " or ".join(f'"{c}" in (select t from {scrub.ROW_TOKENS})' for c in columns) or "false"
                )
                n = conn.execute(f'select count(*) from {schema}."{table}" where {match}').fetchall()[0][0]
                if n:
                    result.skipped[f"{schema}.{table}"] = n
                continue
            scrub.scrub_table(conn, database, schema, table, result)
        for name, n in result.rows_deleted.items():
            report.derived_rows_deleted[name] = report.derived_rows_deleted.get(name, 0) + n
        report.derived_cells_cleared.update(result.cells_cleared)
        report.pending_destination.update(result.skipped)
        scrub.drop_tokens(conn)
        _close_requests(conn, requests, report, now)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("checkpoint")
    if report.pending_destination:
        report.warnings.append(
            "erased persons are still recorded as sent to a destination (the sync did not remove them yet, e.g. a "
            f"dry run): {report.pending_destination}; the next sending run removes them, then the erasure step "
            "deletes these rows"
        )
    return report


def _close_requests(
    conn: duckdb.DuckDBPyConnection, requests: list[tuple[str, str]], report: ErasureReport, now: datetime
) -> None:
    """Log what was done and keep only the request's id and date: the request is not a store of identifiers."""
    ids = [r for r, _ in requests]
    erasure_id = uuid.uuid4().hex[:12]
    rows: list[list[object]] = []
    for table in sorted({*report.raw_rows_deleted, *report.raw_rows_cleared}):
        rows.append(
            [f"raw.{table}", report.raw_rows_deleted.get(table, 0), report.raw_rows_cleared.get(table, 0)]
        )
    for table in sorted({*report.derived_rows_deleted, *report.derived_cells_cleared}):
        rows.append(
            [table, report.derived_rows_deleted.get(table, 0), report.derived_cells_cleared.get(table, 0)]
        )
    for path, n in sorted(report.files_rewritten.items()):
        rows.append([path, 0, n])
    for table, n in sorted(report.pending_destination.items()):
        rows.append([f"{table}: {n} row(s) kept until the sync removes them from the destination", 0, 0])
    _log(conn, erasure_id, now, ids, report.persons, rows or [[None, 0, 0]])
    conn.execute(
        f"update {REQUESTS} set {', '.join(f'{c} = null' for c in REQUEST_IDENTIFIERS)} "
        "where list_contains($ids, trim(request_id))",
        {"ids": ids},
    )


def _log(
    conn: duckdb.DuckDBPyConnection,
    erasure_id: str,
    now: datetime,
    request_ids: list[str] | None,
    persons: int | None,
    rows: list[list[object]],
) -> None:
    conn.execute(LOG_DDL)
    conn.executemany(
        f"insert into {LOG_TABLE} values (?, ?::timestamptz, ?, ?, ?, ?, ?)",
        [[erasure_id, now.isoformat(), request_ids, persons, *row] for row in rows],
    )


def erased_rows(conn: duckdb.DuckDBPyConnection, source: str) -> int:
    """Rows of raw.<source> deleted by erasures and by filtered loads (for reconciling loads with files)."""
    if not _exists(conn, "raw", "_erasure_log"):
        return 0
    return int(
        conn.execute(
            f"select coalesce(sum(rows_deleted), 0) from {LOG_TABLE} where table_name = ?", [f"raw.{source}"]
        ).fetchall()[0][0]
    )


def filter_load(
    conn: duckdb.DuckDBPyConnection, source: str, file_shas: Iterable[str], salt: str | None
) -> tuple[int, int]:
    """Apply the suppression list to the rows just loaded from these files (by SHA-256): returns (rows
    dropped, rows with an erased identifier emptied). Erasure requests themselves are never filtered."""
    shas = sorted(set(file_shas))
    if not shas or source == "erasure_requests" or source not in RULES or not has_suppressions(conn):
        return 0, 0
    if salt is None:
        raise ErasureError(
            "the suppression list of erased persons is not empty but CDP_ERASURE_SALT is not set: new loads "
            "cannot be checked against it; set the salt the list was made with"
        )
    conn.execute("begin transaction")
    try:
        result = apply_suppression(conn, source, salt, "list_contains($shas, _file_sha256)", {"shas": shas})
        if result.rows_deleted or result.rows_cleared:
            _log(
                conn,
                f"load:{shas[0]}" if len(shas) == 1 else f"load:{len(shas)} files",
                datetime.now(UTC),
                None,
                None,
                [[f"raw.{source}", result.rows_deleted, result.rows_cleared]],
            )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return result.rows_deleted, result.rows_cleared
