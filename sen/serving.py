"""Publish the BI-facing tables to a read-only serving DuckDB file, swapped in atomically.

DuckDB lets one process write a database file; while Dagster builds the warehouse, a BI tool opening that
file fails with a lock error (and a long BI query would block the build). So BI tools never open the
warehouse. After each successful build, the `marts` and `audiences` schemas (and the identity KPIs) are
copied into a brand-new file ``serving.duckdb.tmp-<id>`` next to the target, which is checkpointed, synced
and then renamed over ``serving.duckdb`` with ``os.replace`` — atomic on POSIX: a reader opens either the
previous complete file or the new complete file, never a half-written one, and since the published file
is never written in place, read-only readers never meet a writer's lock. A reader that keeps a connection
open keeps reading the version it opened (its inode stays valid) until it reconnects. Readers open it
read-only (docs/serving.md); a WAL left beside it by a tool that opened it read-write is removed at the swap,
since it belongs to the replaced file and would make DuckDB refuse the new one.

With CDP_SERVING_PARQUET=1, every published table is also written as Parquet under
``serving_parquet/current/<schema>/<table>.parquet`` (a symlink swapped atomically to the new version).

``python -m sen.serving`` publishes from CDP_WAREHOUSE to CDP_SERVING (default: serving.duckdb next to the
warehouse). See docs/serving.md for BI connection recipes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from sen import config
from sen.settings import Settings

PUBLISHED_SCHEMAS = ("marts", "audiences")
# Identity KPIs: per-run graph and cluster statistics, plus any identity table named *kpi*.
PUBLISHED_TABLES = (("identity", "identity_runs"),)
MANIFEST = ("_serving", "published_tables")
STALE_TMP_SECONDS = 3600  # a temp file this old is left over from a crashed publish
PARQUET_VERSIONS_KEPT = 2


def serving_path() -> Path:
    """CDP_SERVING, or serving.duckdb next to the warehouse file."""
    path = Settings.from_env().serving_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def is_published(schema: str, table: str) -> bool:
    """The rule for what BI sees; the Dagster asset uses it to find its upstream assets too."""
    return (
        schema in PUBLISHED_SCHEMAS
        or (schema, table) in PUBLISHED_TABLES
        or (schema == "identity" and "kpi" in table.lower())
    )


@dataclass
class PublishResult:
    path: Path
    version: str
    published_at: datetime
    tables: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows
    seconds: float = 0.0
    size_bytes: int = 0
    parquet_dir: Path | None = None  # <serving>_parquet/current when CDP_SERVING_PARQUET is on


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(target: Path) -> None:
    now = time.time()
    for leftover in target.parent.glob(f"{target.name}.tmp-*"):
        try:
            if now - leftover.stat().st_mtime > STALE_TMP_SECONDS:
                leftover.unlink()
        except FileNotFoundError:
            pass


def tables_to_publish(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    rows = conn.execute(
        """select table_schema, table_name from information_schema.tables
           where table_catalog = current_database() order by 1, 2"""
    ).fetchall()
    return [(s, t) for s, t in rows if is_published(s, t)]


def publish(
    conn: duckdb.DuckDBPyConnection, target: Path | None = None, *, as_of: datetime | None = None
) -> PublishResult:
    """Copy the published tables of the warehouse `conn` is connected to into a new file, then swap it in.

    `conn` is the caller's connection to the warehouse (a process may hold only one), read-write or read-only.
    """
    target = Path(target) if target else serving_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    version = uuid.uuid4().hex[:12]
    tmp = target.with_name(f"{target.name}.tmp-{version}")
    alias = f"sen_serving_{version}"
    _remove_stale_temps(target)
    source_db = conn.execute("select current_database()").fetchall()[0][0]
    tables = tables_to_publish(conn)
    if not any(schema == "marts" for schema, _ in tables):
        # Never swap a good serving file for an empty one (e.g. `python -m sen.serving` before any build).
        raise RuntimeError(f"no marts tables in {source_db}: build the warehouse before publishing")
    result = PublishResult(
        path=target, version=version, published_at=datetime.now(UTC).replace(microsecond=0)
    )
    conn.execute(f"attach {_literal(str(tmp))} as {_q(alias)} (read_only false)")
    try:
        for schema in sorted({s for s, _ in tables} | {MANIFEST[0]}):
            conn.execute(f"create schema {_q(alias)}.{_q(schema)}")
        for schema, table in tables:
            conn.execute(
                f"create table {_q(alias)}.{_q(schema)}.{_q(table)} as "
                f"select * from {_q(source_db)}.{_q(schema)}.{_q(table)}"
            )
            rows = conn.execute(f"select count(*) from {_q(alias)}.{_q(schema)}.{_q(table)}").fetchall()[0][0]
            result.tables[f"{schema}.{table}"] = rows
        conn.execute(
            f"""create table {_q(alias)}.{_q(MANIFEST[0])}.{_q(MANIFEST[1])} (
                table_schema varchar, table_name varchar, row_count bigint, version varchar,
                published_at timestamptz, as_of timestamptz)"""
        )
        stamp = (as_of or config.as_of()).isoformat()
        conn.executemany(
            f"insert into {_q(alias)}.{_q(MANIFEST[0])}.{_q(MANIFEST[1])} values (?, ?, ?, ?, ?::timestamptz, ?::timestamptz)",
            [
                [*name.split(".", 1), rows, version, result.published_at.isoformat(), stamp]
                for name, rows in result.tables.items()
            ],
        )
        conn.execute(f"checkpoint {_q(alias)}")
        conn.execute(f"detach {_q(alias)}")
        wal = tmp.with_name(tmp.name + ".wal")
        if wal.exists():  # checkpoint + detach leave none; a WAL would not travel with the rename
            raise RuntimeError(f"{wal} left after checkpoint; not publishing a file that needs its WAL")
        _fsync(tmp)
        # A WAL beside the published name belongs to the file being replaced (a tool that opened it read-write
        # and died or is still writing): DuckDB would replay it into the new file and refuse to open it
        # ("WAL does not match database file") for every reader. Removed before and after the swap.
        stale_wal = target.with_name(target.name + ".wal")
        stale_wal.unlink(missing_ok=True)
        os.replace(tmp, target)
        stale_wal.unlink(missing_ok=True)
        _fsync(target.parent)
    except BaseException:
        try:
            conn.execute(f"detach database if exists {_q(alias)}")
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise
    if parquet_enabled():
        result.parquet_dir = export_parquet(conn, source_db, tables, target, version)
    result.seconds = time.perf_counter() - started
    result.size_bytes = target.stat().st_size
    return result


def parquet_enabled() -> bool:
    return Settings.from_env().serving_parquet


def export_parquet(
    conn: duckdb.DuckDBPyConnection,
    source_db: str,
    tables: list[tuple[str, str]],
    target: Path,
    version: str,
    keep: int = PARQUET_VERSIONS_KEPT,
) -> Path:
    """Also write every published table as <target stem>_parquet/<version>/<schema>/<table>.parquet, then
    point the symlink `current` at that version atomically (a new link renamed over the old one).

    Readers open `.../current/marts/customers.parquet`; the previous `keep - 1` versions stay on disk so a
    reader that resolved `current` just before a swap can finish.
    """
    root = target.with_name(f"{target.stem}_parquet")
    folder = root / version
    for schema, table in tables:
        (folder / schema).mkdir(parents=True, exist_ok=True)
        out = folder / schema / f"{table}.parquet"
        conn.execute(
            f"copy (select * from {_q(source_db)}.{_q(schema)}.{_q(table)}) to {_literal(str(out))} "
            "(format parquet, compression zstd)"
        )
    link, tmp_link = root / "current", root / f"current.tmp-{version}"
    tmp_link.symlink_to(version, target_is_directory=True)
    os.replace(tmp_link, link)
    versions = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.is_symlink()), key=lambda p: p.stat().st_mtime
    )
    for old in versions[:-keep]:
        if old.name != version:
            shutil.rmtree(old, ignore_errors=True)
    return link


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sen.serving", description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", help="source DuckDB file (default: CDP_WAREHOUSE)")
    parser.add_argument("--target", help="serving file (default: CDP_SERVING or serving.duckdb beside it)")
    args = parser.parse_args(argv)
    warehouse = args.warehouse or str(config.warehouse_path())
    try:
        conn = duckdb.connect(warehouse, read_only=True)
    except duckdb.IOException as exc:
        print(f"cannot open {warehouse} (is a build running?): {exc}", file=sys.stderr)
        return 1
    try:
        result = publish(conn, Path(args.target) if args.target else None)
    finally:
        conn.close()
    for name, rows in result.tables.items():
        print(f"  {name:<48} {rows:>12,} rows")
    print(
        f"Published {len(result.tables)} tables to {result.path} ({result.size_bytes / 1e6:.1f} MB) in {result.seconds:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
