"""Idempotent, validated loading of one source folder into ``raw.<source>``.

For every file not loaded before (recognised by its SHA-256, so a renamed copy is not loaded twice):
structure errors are quarantined by the reader, then type, required-field and accepted-value checks run
vectorized in DuckDB; good rows go to ``raw.<source>``, bad rows to ``raw._quarantine`` with file, line and
reason, and the file is recorded in ``raw._loaded_files``. Each file is one transaction, so a crash leaves no
half-loaded file behind. Raw columns stay text: typing happens in the dbt staging models.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from sen.contracts import Column, Source
from sen.ingest.readers import BadLine, MissingColumnError, accepted_file, check_header, read_records

__all__ = ["LoadResult", "MissingColumnError", "load_source"]

CHUNK_ROWS = 200_000
META_COLUMNS = ["_source_file", "_source_line", "_file_sha256", "_load_id", "_loaded_at"]


@dataclass
class LoadResult:
    source: str
    files_found: int = 0
    files_loaded: list[str] = field(default_factory=list)
    files_already_loaded: list[str] = field(default_factory=list)
    files_unreadable: dict[str, str] = field(default_factory=dict)
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: Counter = field(default_factory=Counter)

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.rows_loaded + self.rows_quarantined


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_raw_tables(conn: duckdb.DuckDBPyConnection, source: Source) -> None:
    conn.execute("create schema if not exists raw")
    conn.execute(
        """
        create table if not exists raw._loaded_files (
            source varchar, file_path varchar, file_sha256 varchar, load_id varchar, loaded_at timestamptz,
            rows_in bigint, rows_loaded bigint, rows_quarantined bigint
        )"""
    )
    conn.execute(
        """
        create table if not exists raw._quarantine (
            source varchar, file_path varchar, line bigint, reason varchar, record varchar,
            file_sha256 varchar, load_id varchar, quarantined_at timestamptz
        )"""
    )
    data_columns = ", ".join(f'"{c}" varchar' for c in source.column_names)
    conn.execute(
        f"""
        create table if not exists raw."{source.name}" (
            {data_columns}, _source_file varchar, _source_line bigint, _file_sha256 varchar,
            _load_id varchar, _loaded_at timestamptz
        )"""
    )


def _check_expression(column: Column) -> str:
    """SQL yielding a reason string when the value breaks the contract, else NULL."""
    col = f'"{column.name}"'
    checks: list[str] = []
    if column.required:
        checks.append(f"when nullif(trim({col}), '') is null then 'missing required field {column.name}'")
    present = f"nullif(trim({col}), '') is not null"
    type_checks = {
        "timestamp": f"try_cast(trim({col}) as timestamptz) is null",
        "date": f"try_cast(trim({col}) as date) is null",
        "decimal": f"try_cast(trim({col}) as decimal(20, 4)) is null",
        "integer": f"try_cast(trim({col}) as bigint) is null",
        "boolean": f"lower(trim({col})) not in ('true', 'false', 't', 'f', '1', '0', 'yes', 'no', 'y', 'n')",
        "json": f"not json_valid({col})",
    }
    if column.type in type_checks:
        checks.append(
            f"when {present} and {type_checks[column.type]} then "
            f"'field {column.name}: not a valid {column.type}: ' || left({col}, 80)"
        )
    if column.accepted:
        values = ", ".join("'" + v.replace("'", "''") + "'" for v in column.accepted)
        checks.append(
            f"when {present} and lower(trim({col})) not in ({values}) then "
            f"'field {column.name}: value not accepted: ' || left({col}, 80)"
        )
    return " ".join(checks)


def _reason_sql(source: Source) -> str:
    branches = " ".join(b for b in (_check_expression(c) for c in source.columns) if b)
    return f"case {branches} end" if branches else "null"


def _insert_chunk(
    conn: duckdb.DuckDBPyConnection,
    source: Source,
    lines: list[int],
    rows: list[list[str | None]],
    meta: dict[str, str],
    result: LoadResult,
) -> None:
    columns = {name: [r[i] for r in rows] for i, name in enumerate(source.column_names)}
    columns["_source_line"] = lines
    chunk = pa.table(
        {k: pa.array(v, type=pa.int64() if k == "_source_line" else pa.string()) for k, v in columns.items()}
    )
    conn.register("_sen_chunk", chunk)
    try:
        conn.execute(
            f"create or replace temp table _sen_checked as select *, {_reason_sql(source)} as _reason "
            "from _sen_chunk"
        )
    finally:
        conn.unregister("_sen_chunk")
    data_cols = ", ".join(f'"{c}"' for c in source.column_names)
    conn.execute(
        f"""insert into raw."{source.name}"
        select {data_cols}, $file, _source_line, $sha, $load_id, $loaded_at::timestamptz
        from _sen_checked where _reason is null""",
        meta,
    )
    record_struct = ", ".join(f"'{c}': \"{c}\"" for c in source.column_names)
    conn.execute(
        f"""insert into raw._quarantine
        select $source, $file, _source_line, _reason, to_json({{{record_struct}}})::varchar, $sha, $load_id,
               $loaded_at::timestamptz
        from _sen_checked where _reason is not null""",
        {**meta, "source": source.name},
    )
    for reason, count in conn.execute(
        "select split_part(_reason, ':', 1), count(*) from _sen_checked where _reason is not null group by 1"
    ).fetchall():
        result.quarantine_reasons[reason] += count
    bad = conn.execute("select count(*) from _sen_checked where _reason is not null").fetchone()[0]
    result.rows_in += len(rows)
    result.rows_quarantined += bad
    result.rows_loaded += len(rows) - bad


def _quarantine_lines(
    conn: duckdb.DuckDBPyConnection,
    source: Source,
    bad: list[BadLine],
    meta: dict[str, str],
    result: LoadResult,
) -> None:
    if not bad:
        return
    conn.executemany(
        "insert into raw._quarantine values (?, ?, ?, ?, ?, ?, ?, ?::timestamptz)",
        [
            [
                source.name,
                meta["file"],
                b.line,
                b.reason,
                json.dumps({"raw_line": b.text}, ensure_ascii=False),
                meta["sha"],
                meta["load_id"],
                meta["loaded_at"],
            ]
            for b in bad
        ],
    )
    result.rows_in += len(bad)
    result.rows_quarantined += len(bad)
    for b in bad:
        result.quarantine_reasons[b.reason.split(":")[0]] += 1


def _load_file(
    conn: duckdb.DuckDBPyConnection, source: Source, path: Path, sha: str, load_id: str, result: LoadResult
) -> None:
    meta = {"file": str(path), "sha": sha, "load_id": load_id, "loaded_at": datetime.now(UTC).isoformat()}
    before = (result.rows_in, result.rows_loaded, result.rows_quarantined)
    lines: list[int] = []
    rows: list[list[str | None]] = []
    bad: list[BadLine] = []
    for item in read_records(source, path):
        if isinstance(item, BadLine):
            bad.append(item)
            continue
        lines.append(item[0])
        rows.append(item[1])
        if len(rows) >= CHUNK_ROWS:
            _insert_chunk(conn, source, lines, rows, meta, result)
            lines, rows = [], []
    if rows:
        _insert_chunk(conn, source, lines, rows, meta, result)
    _quarantine_lines(conn, source, bad, meta, result)
    conn.execute(
        "insert into raw._loaded_files values (?, ?, ?, ?, ?::timestamptz, ?, ?, ?)",
        [
            source.name,
            str(path),
            sha,
            load_id,
            meta["loaded_at"],
            result.rows_in - before[0],
            result.rows_loaded - before[1],
            result.rows_quarantined - before[2],
        ],
    )


def load_source(conn: duckdb.DuckDBPyConnection, source: Source, data_dir: Path) -> LoadResult:
    """Load every new file of one source folder. Raises MissingColumnError before loading anything."""
    result = LoadResult(source=source.name)
    folder = data_dir / source.name
    files = sorted(p for p in folder.rglob("*") if accepted_file(p)) if folder.is_dir() else []
    result.files_found = len(files)
    ensure_raw_tables(conn, source)
    loaded = {
        sha
        for (sha,) in conn.execute(
            "select file_sha256 from raw._loaded_files where source = ?", [source.name]
        ).fetchall()
    }
    pending: list[tuple[Path, str]] = []
    for path in files:
        try:
            sha = sha256_of(path)
        except OSError as exc:
            result.files_unreadable[str(path)] = f"cannot read file: {exc.strerror or exc}"
            continue
        if sha in loaded:
            result.files_already_loaded.append(str(path))
            continue
        loaded.add(sha)  # the same content twice in one folder loads once
        pending.append((path, sha))
    for path, _ in pending:
        try:
            check_header(source, path)
        except MissingColumnError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported per file below
            result.files_unreadable[str(path)] = f"unreadable file: {type(exc).__name__}: {exc}"
    load_id = uuid.uuid4().hex[:12]
    for path, sha in pending:
        if str(path) in result.files_unreadable:
            continue
        snapshot = (
            result.rows_in,
            result.rows_loaded,
            result.rows_quarantined,
            Counter(result.quarantine_reasons),
        )
        conn.execute("begin transaction")
        try:
            _load_file(conn, source, path, sha, load_id, result)
            conn.execute("commit")
        except (UnicodeDecodeError, OSError, EOFError, ValueError, pa.ArrowException) as exc:
            conn.execute("rollback")
            result.rows_in, result.rows_loaded, result.rows_quarantined, result.quarantine_reasons = snapshot
            result.files_unreadable[str(path)] = f"unreadable file: {type(exc).__name__}: {exc}"
            continue
        except BaseException:
            conn.execute("rollback")
            raise
        result.files_loaded.append(str(path))
    for path_str, reason in result.files_unreadable.items():
        # Recorded for the UI and the data-quality checks; the file is not marked loaded, so a fixed file loads.
        conn.execute(
            "insert into raw._quarantine values (?, ?, null, ?, null, null, ?, now())",
            [source.name, path_str, reason, load_id],
        )
    return result
