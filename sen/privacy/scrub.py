"""Removing an erased person's values from tables and files that were derived from raw data.

Two kinds of values are looked for, exactly (no pattern matching, so another person's row never matches by
accident):
- row tokens: the person's ids and record keys (person_id, order ids, event ids...). A row holding one is
  the person's row and is deleted;
- value tokens: the person's identifiers (email, phone, customer id, loyalty card, anonymous ids...) in
  their normalized and raw forms. A row holding one is deleted, unless the table has a person column and the
  row belongs to someone else (a shared phone in another customer's row): then only that cell is emptied.
Free-text columns (a quarantined record, an error message) are searched for the tokens as substrings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ROW_TOKENS = "_sen_erase_row_tokens"
VALUE_TOKENS = "_sen_erase_value_tokens"
# Columns naming whose row it is: a match deletes the row.
PERSON_COLUMNS = ("person_id", "__person_id", "related_person_id", "primary_key", "__pk")
# Free text that may quote a value (searched by substring; the cell is replaced, the row kept).
TEXT_COLUMNS = ("record", "error", "detail", "reason", "reject_reason", "raw_line", "message")
ERASED_TEXT = "[erased]"
MIN_SUBSTRING = 6  # shorter tokens are not searched inside text (they would match unrelated words)


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def load_tokens(
    conn: duckdb.DuckDBPyConnection, row_tokens: Iterable[str], value_tokens: Iterable[str]
) -> None:
    rows = sorted({t for t in row_tokens if t})
    values = sorted({t for t in value_tokens if t} - set(rows))
    for name, tokens in ((ROW_TOKENS, rows), (VALUE_TOKENS, values)):
        conn.execute(f"create or replace temp table {name} (t varchar)")
        if tokens:
            conn.executemany(f"insert into {name} values (?)", [[t] for t in tokens])


def drop_tokens(conn: duckdb.DuckDBPyConnection) -> None:
    for name in (ROW_TOKENS, VALUE_TOKENS):
        conn.execute(f"drop table if exists {name}")


@dataclass
class ScrubResult:
    rows_deleted: dict[str, int] = field(default_factory=dict)  # table -> rows
    cells_cleared: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # table -> rows kept on purpose (pending removal)

    @property
    def total(self) -> int:
        return sum(self.rows_deleted.values()) + sum(self.cells_cleared.values())


def _varchar_columns(
    conn: duckdb.DuckDBPyConnection, database: str, schema: str, table: str
) -> list[tuple[str, bool]]:
    return [
        (name, nullable)
        for name, nullable in conn.execute(
            """select column_name, is_nullable from duckdb_columns()
               where database_name = ? and schema_name = ? and table_name = ? and data_type = 'VARCHAR'
               order by column_index""",
            [database, schema, table],
        ).fetchall()
    ]


def base_tables(
    conn: duckdb.DuckDBPyConnection, database: str, skip_schemas: Iterable[str] = ()
) -> list[tuple[str, str]]:
    skip = set(skip_schemas)
    return [
        (s, t)
        for s, t in conn.execute(
            """select schema_name, table_name from duckdb_tables()
               where database_name = ? and not temporary order by 1, 2""",
            [database],
        ).fetchall()
        if s not in skip
    ]


def _count(conn: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(conn.execute(sql).fetchall()[0][0])


def scrub_table(
    conn: duckdb.DuckDBPyConnection, database: str, schema: str, table: str, result: ScrubResult
) -> None:
    """Delete the erased person's rows of one table and empty their values in other rows (tokens loaded)."""
    columns = _varchar_columns(conn, database, schema, table)
    if not columns:
        return
    name = f"{schema}.{table}"
    relation = f"{q(database)}.{q(schema)}.{q(table)}"
    names = [c for c, _ in columns]
    has_person = any(c in PERSON_COLUMNS for c in names)
    row_match = " or ".join(f"{q(c)} in (select t from {ROW_TOKENS})" for c in names)
    value_match = " or ".join(f"{q(c)} in (select t from {VALUE_TOKENS})" for c in names)
    deleted = _count(conn, f"select count(*) from {relation} where {row_match}")
    if not has_person:
        deleted += _count(
            conn, f"select count(*) from {relation} where not ({row_match}) and ({value_match})"
        )
    if deleted:
        condition = row_match if has_person else f"({row_match}) or ({value_match})"
        conn.execute(f"delete from {relation} where {condition}")
        result.rows_deleted[name] = result.rows_deleted.get(name, 0) + deleted
    cleared = 0
    for column, nullable in columns:
        match = f"{q(column)} in (select t from {VALUE_TOKENS})"
        if has_person and (n := _count(conn, f"select count(*) from {relation} where {match}")):
            if nullable:
                conn.execute(f"update {relation} set {q(column)} = null where {match}")
            else:
                conn.execute(f"delete from {relation} where {match}")
            cleared += n
        if column.lower() in TEXT_COLUMNS:
            text_match = (
                f"exists (select 1 from (select t from {ROW_TOKENS} union all select t from {VALUE_TOKENS}) tokens "
                f"where length(tokens.t) >= {MIN_SUBSTRING} and contains({q(column)}, tokens.t))"
            )
            if n := _count(conn, f"select count(*) from {relation} where {text_match}"):
                conn.execute(f"update {relation} set {q(column)} = '{ERASED_TEXT}' where {text_match}")
                cleared += n
    if cleared:
        result.cells_cleared[name] = result.cells_cleared.get(name, 0) + cleared


def scrub_database(
    conn: duckdb.DuckDBPyConnection,
    database: str,
    *,
    skip_schemas: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> ScrubResult:
    """scrub_table on every base table of `database` (tokens loaded on `conn`). Tables whose name starts with a
    prefix in `keep` are only counted (rows holding a row token), not changed."""
    result = ScrubResult()
    prefixes = tuple(keep)
    for schema, table in base_tables(conn, database, skip_schemas):
        if prefixes and table.startswith(prefixes):
            columns = [c for c, _ in _varchar_columns(conn, database, schema, table)]
            if columns:
                match = " or ".join(f"{q(c)} in (select t from {ROW_TOKENS})" for c in columns)
                relation = f"{q(database)}.{q(schema)}.{q(table)}"
                if n := _count(conn, f"select count(*) from {relation} where {match}"):
                    result.skipped[f"{schema}.{table}"] = n
            continue
        scrub_table(conn, database, schema, table, result)
    return result


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _filtered_select(conn: duckdb.DuckDBPyConnection, relation: str) -> tuple[str, int]:
    """SELECT of `relation` without the rows holding a row token and with value tokens emptied, and the
    number of rows or cells that differ."""
    described = conn.execute(f"select * from {relation} limit 0").description
    names = [d[0] for d in described]
    text = [d[0] for d in described if str(d[1]).upper() in ("VARCHAR", "STRING")]
    if not text:
        return f"select * from {relation}", 0
    row_match = " or ".join(f"{q(c)} in (select t from {ROW_TOKENS})" for c in text)
    value_match = " or ".join(f"{q(c)} in (select t from {VALUE_TOKENS})" for c in text)
    changed = _count(conn, f"select count(*) from {relation} where ({row_match}) or ({value_match})")
    items = [
        f"case when {q(c)} in (select t from {VALUE_TOKENS}) then null else {q(c)} end as {q(c)}"
        if c in text
        else q(c)
        for c in names
    ]
    return f"select {', '.join(items)} from {relation} where not ({row_match})", changed


def scrub_file(conn: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Rewrite one CSV or Parquet file without the erased person (atomically); returns rows/cells changed."""
    literal = "'" + str(path).replace("'", "''") + "'"
    if path.suffix == ".parquet":
        relation, options = f"read_parquet({literal})", "format parquet, compression zstd"
    elif path.suffix == ".csv":
        relation, options = (
            f"read_csv({literal}, header = true, all_varchar = true)",
            "format csv, header true",
        )
    else:
        return 0
    select, changed = _filtered_select(conn, relation)
    if not changed:
        return 0
    tmp = path.with_name(f".{path.name}.erasure-tmp")
    conn.execute(f"copy ({select}) to '{str(tmp).replace(chr(39), chr(39) * 2)}' ({options})")
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)
    return changed


def scrub_files(conn: duckdb.DuckDBPyConnection, folders: Iterable[Path]) -> dict[str, int]:
    """scrub_file on every CSV/Parquet file under the folders (symlinks not followed: each file once)."""
    changed: dict[str, int] = {}
    seen: set[Path] = set()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file() or path.suffix not in (".csv", ".parquet"):
                continue
            if any(p.is_symlink() for p in path.parents if p != folder and folder in p.parents):
                continue
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            if n := scrub_file(conn, path):
                changed[str(path)] = n
    return changed


def scrub_duckdb_copy(conn: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Replace the DuckDB file `path` (e.g. the serving copy, which is never written in place) by a new file
    holding the same tables without the erased person, swapped in atomically. Readers that have it open keep
    the version they opened until they reconnect."""
    if not path.exists():
        return 0
    src, dst = "_sen_erase_src", "_sen_erase_dst"
    tmp = path.with_name(f"{path.name}.erasure-tmp")
    tmp.unlink(missing_ok=True)
    lit = "'" + str(path).replace("'", "''") + "'"
    conn.execute(f"attach {lit} as {src} (read_only true)")
    changed = 0
    try:
        tables = base_tables(conn, src)
        for schema, table in tables:
            relation = f"{src}.{q(schema)}.{q(table)}"
            changed += _filtered_select(conn, relation)[1]
        if not changed:
            return 0
        conn.execute(f"attach '{str(tmp).replace(chr(39), chr(39) * 2)}' as {dst}")
        try:
            for schema in sorted({s for s, _ in tables}):
                conn.execute(f"create schema if not exists {dst}.{q(schema)}")
            for schema, table in tables:
                select, _ = _filtered_select(conn, f"{src}.{q(schema)}.{q(table)}")
                conn.execute(f"create table {dst}.{q(schema)}.{q(table)} as {select}")
            conn.execute(f"checkpoint {dst}")
        finally:
            conn.execute(f"detach database if exists {dst}")
    finally:
        conn.execute(f"detach database if exists {src}")
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)
    return changed


def compact_database(path: Path) -> int:
    """Rewrite the DuckDB file `path` into a new file (COPY FROM DATABASE) and swap it in atomically.

    DuckDB does not zero the blocks a DELETE frees: until later writes reuse them, deleted values can still
    be read from the file with a hex editor. A new file holds only the live rows. Needs the file closed by
    every writer (the step closes its connection first); returns the new size in bytes."""
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{wal} exists: the warehouse is still open for writing; not compacting it")
    from sen.normalize.duckdb_udfs import register_udfs

    tmp = path.with_name(f"{path.name}.erasure-compact")
    tmp.unlink(missing_ok=True)
    name = path.stem  # the catalog name every connection to the file sees
    conn = duckdb.connect()
    try:
        register_udfs(conn)  # the staging views call the normalizers
        conn.execute(f"attach '{str(path).replace(chr(39), chr(39) * 2)}' as {q(name)} (read_only true)")
        conn.execute(f"attach '{str(tmp).replace(chr(39), chr(39) * 2)}' as {q(name + '_compact')}")
        conn.execute(f"copy from database {q(name)} to {q(name + '_compact')}")
        conn.execute(f"checkpoint {q(name + '_compact')}")
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    conn.close()
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)
    return path.stat().st_size
