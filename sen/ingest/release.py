"""Releasing quarantined rows into raw, with an audit trail (``python -m sen.ingest release``).

A row quarantined for a value (a negative total, a future birthday, a quantity of 0) is kept whole in
``raw._quarantine.record``. Once the operator knows what the value should be, or has widened the contract, the
row is released: the chosen rows are re-checked against the *current* contract, after the operator's
corrections (``--set birthday=`` clears a field, ``--set total=150000`` corrects one); those that now pass are
inserted into ``raw.<source>`` under a load id ``release-<id>`` (keeping their file and line) and leave the
quarantine; those that still break a rule stay, with their new reason. Each released row is recorded in
``raw._quarantine_releases``: when, by whom, why, the reason it was quarantined for, the record before and after.
A line that could not be parsed at all (broken JSON, a wrong field count) has no record to release: fix the file
and deliver it again.
"""

from __future__ import annotations

import getpass
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from sen.contracts import FUTURE_TOLERANCE, Source
from sen.ingest.loader import _reason_sql, ensure_raw_tables

AUDIT_TABLE = "raw._quarantine_releases"


@dataclass
class ReleaseResult:
    release_id: str
    selected: int = 0
    released: int = 0
    still_failing: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, reason)
    not_releasable: int = 0  # quarantined lines without a record (unparseable): fix the file instead


def ensure_audit_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(
        f"""create table if not exists {AUDIT_TABLE} (
            release_id varchar, released_at timestamptz, released_by varchar, why varchar, source varchar,
            file_path varchar, line bigint, quarantine_reason varchar, record_before varchar,
            record_after varchar, changed_fields varchar, load_id varchar
        )"""
    )


def parse_assignments(items: list[str], source: Source) -> dict[str, str | None]:
    """``col=value`` pairs; an empty value clears the field. Only contract columns may be set."""
    changes: dict[str, str | None] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in source.column_names:
            raise ValueError(
                f"--set {item!r}: expected COLUMN=VALUE with a column of {source.name} "
                f"({', '.join(source.column_names)})"
            )
        changes[name] = value if value.strip() else None
    return changes


def release(
    conn: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    why: str,
    file_path: str | None = None,
    lines: list[int] | None = None,
    reason_contains: str | None = None,
    changes: dict[str, str | None] | None = None,
    released_by: str | None = None,
    dry_run: bool = False,
) -> ReleaseResult:
    """Release the quarantined rows of ``source`` matching the filters (all of them when none is given)."""
    if not why.strip():
        raise ValueError("a release needs a reason (--reason): it is kept in the audit trail")
    changes = changes or {}
    ensure_raw_tables(conn, source)
    ensure_audit_table(conn)
    result = ReleaseResult(release_id=uuid.uuid4().hex[:12])
    where = ["source = ?", "line is not null"]
    params: list[object] = [source.name]
    if file_path:
        where.append("(file_path = ? or file_path like '%/' || ?)")
        params += [file_path, file_path]
    if lines:
        where.append("line in (select unnest(?::bigint[]))")
        params.append(lines)
    if reason_contains:
        where.append("contains(lower(reason), lower(?))")
        params.append(reason_contains)
    rows = conn.execute(
        f"select rowid, file_path, line, reason, record, file_sha256 from raw._quarantine "
        f"where {' and '.join(where)} order by file_path, line",
        params,
    ).fetchall()
    candidates = []
    for rowid, path, line, reason, record_text, sha in rows:
        record = json.loads(record_text) if record_text else None
        if not isinstance(record, dict) or "raw_line" in record:
            result.not_releasable += 1
            continue
        after = {c: record.get(c) for c in source.column_names}
        after.update(changes)
        candidates.append((rowid, path, line, reason, record, after, sha))
    result.selected = len(candidates)
    if not candidates:
        return result
    now = datetime.now(UTC)
    data = {c: pa.array([cand[5][c] for cand in candidates], pa.string()) for c in source.column_names}
    data["_rowid"] = pa.array([cand[0] for cand in candidates], pa.int64())
    conn.register("_sen_release", pa.table(data))
    try:
        reason_of = dict(
            conn.execute(
                f"select _rowid, {_reason_sql(source, now + FUTURE_TOLERANCE)} from _sen_release"
            ).fetchall()
        )
    finally:
        conn.unregister("_sen_release")
    passing = []
    for cand in candidates:
        if reason_of[cand[0]] is None:
            passing.append(cand)
        else:
            result.still_failing.append((cand[1], cand[2], reason_of[cand[0]]))
    result.released = len(passing)
    if dry_run or not passing:
        return result
    load_id = f"release-{result.release_id}"
    who = released_by or getpass.getuser()
    columns = ", ".join(f'"{c}"' for c in source.column_names)
    marks = ", ".join("?" for _ in source.column_names)
    conn.execute("begin transaction")
    try:
        for rowid, path, line, reason, before, after, sha in passing:
            conn.execute(
                f"""insert into raw."{source.name}"
                    ({columns}, _source_file, _source_line, _file_sha256, _load_id, _loaded_at)
                values ({marks}, ?, ?, ?, ?, ?::timestamptz)""",
                [*(after[c] for c in source.column_names), path, line, sha, load_id, now.isoformat()],
            )
            changed = sorted(c for c in source.column_names if before.get(c) != after[c])
            conn.execute(
                f"insert into {AUDIT_TABLE} values (?, ?::timestamptz, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    result.release_id,
                    now.isoformat(),
                    who,
                    why,
                    source.name,
                    path,
                    line,
                    reason,
                    json.dumps(before, ensure_ascii=False),
                    json.dumps(after, ensure_ascii=False),
                    ", ".join(changed),
                    load_id,
                ],
            )
            conn.execute("delete from raw._quarantine where rowid = ?", [rowid])
        # The file's counts follow, so a file whose every row was quarantined stops being reported as broken.
        for sha, n in _count_by(passing, key=lambda c: c[6]).items():
            conn.execute(
                """update raw._loaded_files set rows_loaded = rows_loaded + ?, rows_quarantined = rows_quarantined - ?
                   where source = ? and file_sha256 = ?""",
                [n, n, source.name, sha],
            )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return result


def _count_by(items: list, key) -> dict:
    counts: dict = {}
    for item in items:
        counts[key(item)] = counts.get(key(item), 0) + 1
    return counts
