"""Idempotent, validated loading of one source folder into ``raw.<source>``.

For every file not loaded before (recognised by its SHA-256, so a renamed copy is not loaded twice):
structure errors and JSON parsing limits are quarantined by the reader, then type, required-field,
accepted-value and row-rule checks (the contract's bounds, the plausible time window, value sizes, NaN) run
vectorized in DuckDB; good rows go to ``raw.<source>``, bad rows to ``raw._quarantine`` with file, line and
reason, and the file is recorded in ``raw._loaded_files``. Each file is one transaction, so a crash leaves no
half-loaded file behind. Raw columns stay text: typing happens in the dbt staging models.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from sen.contracts import FUTURE_TOLERANCE, Column, Source
from sen.ingest.readers import (
    BadLine,
    IngestError,
    MissingColumnError,
    TextLayout,
    UnreadableFileError,
    accepted_file,
    check_header,
    read_records,
)

__all__ = [
    "DataDirError",
    "IngestError",
    "LoadResult",
    "MissingColumnError",
    "SourceProblemError",
    "check_data_dir",
    "ingest_source",
    "load_source",
]

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
    # Files read in another encoding than UTF-8 or with another separator than a comma: path -> how.
    files_read_as: dict[str, str] = field(default_factory=dict)
    # SHA-256 of every readable file in the folder now (loaded before or not): path -> sha.
    file_sha: dict[str, str] = field(default_factory=dict)

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
    # A contract that gained columns (e.g. group_id and previous_id for the collector's group and alias calls)
    # widens a raw table created by an older version; inserts name their columns, so the order does not matter.
    for column in source.column_names:
        conn.execute(f'alter table raw."{source.name}" add column if not exists "{column}" varchar')


NON_FINITE = ("nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def _check_expression(column: Column, latest: datetime) -> str:
    """SQL yielding a reason string when the value breaks the contract, else NULL. `latest` is the last
    plausible instant (the load's real clock plus the tolerance): later timestamps are quarantined."""
    col = f'"{column.name}"'
    checks: list[str] = []
    if column.required:
        checks.append(f"when nullif(trim({col}), '') is null then 'missing required field {column.name}'")
    present = f"nullif(trim({col}), '') is not null"
    # Size first: a 5,000-digit number or a megabyte name is refused before anything parses it.
    limit = column.length_limit
    checks.append(
        f"when length({col}) > {limit} then 'field {column.name}: value too long (' || length({col}) "
        f"|| ' characters, limit {limit:,})'"
    )
    if column.type in ("decimal", "integer"):
        # NaN / Infinity parse as a double but are no amount or count: never a silent NULL downstream.
        values = ", ".join(f"'{v}'" for v in NON_FINITE)
        checks.append(
            f"when lower(trim({col})) in ({values}) then 'field {column.name}: not a finite number: ' "
            f"|| left({col}, 80)"
        )
    type_checks = {
        "timestamp": f"try_cast(trim({col}) as timestamptz) is null",
        "date": f"try_cast(trim({col}) as date) is null",
        "decimal": f"try_cast(trim({col}) as decimal(20, 4)) is null",
        "integer": f"try_cast(trim({col}) as bigint) is null",
        "boolean": f"lower(trim({col})) not in ('true', 'false', 't', 'f', '1', '0', 'yes', 'no', 'y', 'n')",
        "json": f"not json_valid({col})",
    }
    # A number too large for the warehouse type is "out of range", not "not a valid" number: the fix differs.
    out_of_range = {
        "decimal": (f"abs(try_cast(trim({col}) as double)) >= 1e16", "more than 16 digits before the point"),
        "integer": (f"abs(try_cast(trim({col}) as double)) >= 9.2e18", "beyond the 64-bit integer range"),
    }
    if column.type in out_of_range:
        condition, limit_text = out_of_range[column.type]
        checks.append(
            f"when {present} and {type_checks[column.type]} and {condition} then "
            f"'field {column.name}: out of range ({limit_text}): ' || left({col}, 80)"
        )
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
    if column.type in ("decimal", "integer"):
        low, high = column.bounds
        number = f"try_cast(trim({col}) as {'double' if column.type == 'decimal' else 'bigint'})"
        if low is not None:
            checks.append(
                f"when {number} < {low!r} then 'field {column.name}: below the minimum {_number(low)}: ' "
                f"|| left({col}, 80)"
            )
        if high is not None:
            # An amount's maximum is exclusive (below 10 billion VND), a count's inclusive.
            op, word = (
                (">=", "at or above the maximum") if column.type == "decimal" else (">", "above the maximum")
            )
            checks.append(
                f"when {number} {op} {high!r} then 'field {column.name}: {word} {_number(high)}: ' "
                f"|| left({col}, 80)"
            )
    if column.type in ("timestamp", "date"):
        kind = "timestamptz" if column.type == "timestamp" else "date"
        value = f"try_cast(trim({col}) as {kind})"
        earliest = column.earliest.isoformat()
        last = latest.isoformat() if column.type == "timestamp" else latest.date().isoformat()
        checks.append(
            f"when {value} < '{earliest}'::{kind} then 'field {column.name}: before {earliest}, "
            f"outside the plausible window: ' || left({col}, 80)"
        )
        checks.append(
            f"when {value} > '{last}'::{kind} then 'field {column.name}: in the future (after {last}), "
            f"outside the plausible window: ' || left({col}, 80)"
        )
    return " ".join(checks)


def _reason_sql(source: Source, latest: datetime) -> str:
    branches = " ".join(b for b in (_check_expression(c, latest) for c in source.columns) if b)
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
            f"create or replace temp table _sen_checked as select *, "
            f"{_reason_sql(source, datetime.fromisoformat(meta['loaded_at']) + FUTURE_TOLERANCE)} as _reason "
            "from _sen_chunk"
        )
    finally:
        conn.unregister("_sen_chunk")
    data_cols = ", ".join(f'"{c}"' for c in source.column_names)
    conn.execute(
        f"""insert into raw."{source.name}"
            ({data_cols}, _source_file, _source_line, _file_sha256, _load_id, _loaded_at)
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
    # fetchall, not fetchone: an unfetched result keeps the connection busy, and the next chunk's register
    # then fails with ResourceInUseException (a file of more than CHUNK_ROWS rows could not load).
    bad = conn.execute("select count(*) from _sen_checked where _reason is not null").fetchall()[0][0]
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


def _normalized(column: Column) -> str:
    """A column's value as compared between duplicates: amounts to the cent, text trimmed."""
    col = f'"{column.name}"'
    if column.type == "decimal":
        value = f"cast(round(try_cast(trim({col}) as double), 2) as varchar)"
    elif column.type == "timestamp":
        value = f"coalesce(cast(try_cast(trim({col}) as timestamptz) as varchar), trim({col}))"
    else:
        value = f"trim({col})"
    return f"coalesce({value}, '(empty)')"  # an empty value differs from any other, for count(distinct)


def _quarantine_conflicting_keys(
    conn: duckdb.DuckDBPyConnection, source: Source, meta: dict[str, str], result: LoadResult
) -> None:
    """Rows of one file sharing a key but disagreeing on a value (beyond rounding) leave raw for the
    quarantine, every one of them, with a reason naming the key, the lines and the fields that differ: which
    one is right is the shop's call, and silently keeping the last would be a wrong answer."""
    if not source.key or source.duplicates_may_differ:
        return
    keys = [f'"{k}"' for k in source.key]
    others = [c for c in source.columns if c.name not in source.key]
    if not others:
        return
    key_list = ", ".join(keys)
    differs = ", ".join(f"case when count(distinct {_normalized(c)}) > 1 then '{c.name}' end" for c in others)
    key_text = " || ', ' || ".join(
        f"'{k}=' || coalesce({q}, '')" for k, q in zip(source.key, keys, strict=True)
    )
    this_file = "_file_sha256 = $sha and _load_id = $load_id"
    file_params = {"sha": meta["sha"], "load_id": meta["load_id"]}
    # Most files have no repeated key at all: one cheap grouping on the key skips the value comparison.
    repeated = conn.execute(
        f"""select 1 from raw."{source.name}" where {this_file}
        group by {key_list} having count(*) > 1 limit 1""",
        file_params,
    ).fetchall()
    if not repeated:
        return
    conn.execute(
        f"""create or replace temp table _sen_conflicts as
        select {key_list},
               'conflicting duplicate key ' || {key_text} || ': lines '
               || array_to_string(list_sort(list(distinct _source_line)), ', ')
               || ' differ in ' || concat_ws(', ', {differs}) as _reason
        from raw."{source.name}" where {this_file}
        group by {key_list}
        having count(distinct ({", ".join(_normalized(c) for c in others)})) > 1""",
        {"sha": meta["sha"], "load_id": meta["load_id"]},
    )
    n = conn.execute("select count(*) from _sen_conflicts").fetchall()[0][0]
    if not n:
        return
    join = " and ".join(f"r.{k} is not distinct from c.{k}" for k in keys)
    record_struct = ", ".join(f"'{c}': r.\"{c}\"" for c in source.column_names)
    moved = conn.execute(
        f"""insert into raw._quarantine
        select $source, $file, r._source_line, c._reason, to_json({{{record_struct}}})::varchar, $sha, $load_id,
               $loaded_at::timestamptz
        from raw."{source.name}" r join _sen_conflicts c on {join}
        where r._file_sha256 = $sha and r._load_id = $load_id""",
        {**meta, "source": source.name},
    ).fetchall()[0][0]
    conn.execute(
        f"""delete from raw."{source.name}" r using _sen_conflicts c
        where {join} and r._file_sha256 = $sha and r._load_id = $load_id""",
        {"sha": meta["sha"], "load_id": meta["load_id"]},
    )
    result.rows_loaded -= moved
    result.rows_quarantined += moved
    result.quarantine_reasons["conflicting duplicate key"] += moved


def _load_file(
    conn: duckdb.DuckDBPyConnection,
    source: Source,
    path: Path,
    sha: str,
    load_id: str,
    result: LoadResult,
    layout: TextLayout | None = None,
) -> None:
    meta = {"file": str(path), "sha": sha, "load_id": load_id, "loaded_at": datetime.now(UTC).isoformat()}
    before = (result.rows_in, result.rows_loaded, result.rows_quarantined)
    lines: list[int] = []
    rows: list[list[str | None]] = []
    bad: list[BadLine] = []
    for item in read_records(source, path, layout):
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
    _quarantine_conflicting_keys(conn, source, meta, result)
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


def _unreadable(exc: BaseException) -> str:
    if isinstance(exc, UnreadableFileError):
        return f"unreadable file: {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return f"unreadable file: not valid {exc.encoding} at byte {exc.start}; save the file as UTF-8"
    return f"unreadable file: {type(exc).__name__}: {exc}"


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
        result.file_sha[str(path)] = sha
        if sha in loaded:
            result.files_already_loaded.append(str(path))
            continue
        loaded.add(sha)  # the same content twice in one folder loads once
        pending.append((path, sha))
    layouts: dict[str, TextLayout] = {}
    for path, _ in pending:
        try:
            layout = check_header(source, path)
        except MissingColumnError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported per file below
            result.files_unreadable[str(path)] = _unreadable(exc)
            continue
        layouts[str(path)] = layout
        if layout.encoding not in ("utf-8", "utf-8-sig") or layout.separator != ",":
            result.files_read_as[str(path)] = f"encoding {layout.encoding}, separator {layout.separator!r}"
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
            _load_file(conn, source, path, sha, load_id, result, layouts.get(str(path)))
            conn.execute("commit")
        except Exception as exc:  # noqa: BLE001 - any failure reading one file marks that file, not the build
            conn.execute("rollback")
            result.rows_in, result.rows_loaded, result.rows_quarantined, result.quarantine_reasons = snapshot
            result.files_unreadable[str(path)] = _unreadable(exc)
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


class DataDirError(IngestError):
    """The data folder is missing, empty or laid out so that no source would load."""


class SourceProblemError(IngestError):
    """A source loaded with problems that make its output wrong: unreadable files, every row quarantined."""

    def __init__(self, source: str, problems: list[str], result: LoadResult):
        self.source, self.problems, self.result = source, problems, result
        super().__init__(f"source '{source}': " + "; ".join(problems))


def check_data_dir(data_dir: Path, source_names: list[str]) -> None:
    """Raise DataDirError unless ``data_dir`` holds at least one source folder with files, and no folder that
    looks like a misspelled source (``oders/`` next to no ``orders/``), which would silently load nothing."""
    hint = (
        "set CDP_DATA_DIR to the folder that holds one sub-folder per source "
        f"({', '.join(n + '/' for n in source_names[:4])}...; see docs/input_contract.md)"
    )
    if not data_dir.exists():
        raise DataDirError(f"data folder {data_dir} does not exist; {hint}")
    if not data_dir.is_dir():
        raise DataDirError(f"data folder {data_dir} is not a folder; {hint}")
    folders = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    lowered = {n.lower(): n for n in source_names}
    for folder in folders:
        if folder in source_names:
            continue
        near = difflib.get_close_matches(folder.lower(), list(lowered), n=1, cutoff=0.8)
        if near and lowered[near[0]] not in folders:
            raise DataDirError(
                f"folder {data_dir / folder} is not a source of the input contract; did you mean "
                f"{lowered[near[0]]}/? Rename the folder (source folder names are exact and lower case)"
            )
    with_files = [
        f for f in folders if f in source_names and any(accepted_file(p) for p in (data_dir / f).rglob("*"))
    ]
    if not with_files:
        loose = sorted(p.name for p in data_dir.iterdir() if accepted_file(p))
        found = (
            f"it holds the files {', '.join(loose[:5])} directly; move each into its source's folder"
            if loose
            else (f"its sub-folders are {', '.join(folders[:8])}" if folders else "it is empty")
        )
        raise DataDirError(f"data folder {data_dir} holds no source files ({found}); {hint}")


def source_problems(conn: duckdb.DuckDBPyConnection, source: Source, result: LoadResult) -> list[str]:
    """What about this source must stop the build: unreadable files (retried on every run until fixed), a
    source whose rows were all quarantined (nothing of it would reach the marts), a file still in the folder
    whose rows were all quarantined (a new export that broke: the marts would silently stay on the old)."""
    problems = [
        f"{path}: {reason}; fix or replace the file and rerun (it is not marked loaded)"
        for path, reason in result.files_unreadable.items()
    ]
    loaded = conn.execute(f'select count(*) from raw."{source.name}"').fetchall()[0][0]
    if not loaded:
        reasons = conn.execute(
            """select split_part(reason, ':', 1), count(*) from raw._quarantine
               where source = ? and line is not null group by 1 order by 2 desc, 1""",
            [source.name],
        ).fetchall()
        if reasons:
            total = sum(n for _, n in reasons)
            top = ", ".join(f"{r} ({n:,})" for r, n in reasons[:3])
            problems.append(
                f"all {total:,} row(s) were quarantined, none loaded (reasons: {top}); "
                f"see raw._quarantine where source = '{source.name}' and fix the export "
                "(docs/input_contract.md)"
            )
            return problems
    # A file still in the folder of which nothing loaded (every row quarantined) while other files did: loud
    # until the file is fixed (a new checksum) or removed, though it is recorded as loaded.
    if result.file_sha:
        quarantined_of = dict(
            conn.execute(
                """select file_sha256, rows_quarantined from raw._loaded_files
                   where source = ? and rows_loaded = 0 and rows_quarantined > 0
                     and file_sha256 in (select unnest(?::varchar[]))""",
                [source.name, list(result.file_sha.values())],
            ).fetchall()
        )
        for path, sha in result.file_sha.items():
            if sha in quarantined_of:
                problems.append(
                    f"{path}: all {quarantined_of[sha]:,} row(s) quarantined, none loaded; see raw._quarantine "
                    f"where file_path = '{path}', then fix the file (or remove it) and rerun, or release the rows "
                    f"once corrected (python -m sen.ingest release --source {source.name} --file '{path}' --set ...)"
                )
    return problems


def ingest_source(
    conn: duckdb.DuckDBPyConnection, source: Source, data_dir: Path, source_names: list[str] | None = None
) -> LoadResult:
    """load_source for a build: checks the data folder first and raises an IngestError (after keeping what
    loaded well) when the source's outcome would be silently wrong."""
    if source_names is None:
        from sen.contracts import load_contract

        source_names = list(load_contract().sources)
    check_data_dir(data_dir, source_names)
    result = load_source(conn, source, data_dir)
    problems = source_problems(conn, source, result)
    if problems:
        raise SourceProblemError(source.name, problems, result)
    return result
