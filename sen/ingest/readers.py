"""Readers that turn one source file into records of text values, keeping each record's line number.

Structure errors (a broken JSON line, a CSV row with the wrong number of fields) are reported per line so the
loader can quarantine them; type and value checks happen afterwards, vectorized, in the warehouse.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from sen.contracts import Source

CSV_SUFFIXES = (".csv", ".csv.gz")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
ACCEPTED_SUFFIXES = CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES


class MissingColumnError(ValueError):
    """A file lacks a column the contract requires; the whole source stops."""

    def __init__(self, source: str, path: Path, columns: list[str]):
        self.source, self.path, self.columns = source, path, columns
        super().__init__(
            f"source '{source}': file {path} is missing required column(s) {', '.join(columns)} "
            f"(see sen/contracts/sources.yml); nothing from this source was loaded"
        )


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str
    text: str


Record = tuple[int, list[str | None]]  # (line number, values in contract column order)


def accepted_file(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and not name.startswith((".", "_")) and name.endswith(ACCEPTED_SUFFIXES)


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by the caller


def file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return "jsonl"


def check_header(source: Source, path: Path) -> None:
    """Raise MissingColumnError when a CSV or Parquet file lacks a required column."""
    fmt = file_format(path)
    if fmt == "csv":
        with _open_text(path) as handle:
            header = next(csv.reader(handle), [])
        present = {h.strip() for h in header}
    elif fmt == "parquet":
        present = set(pq.read_schema(path).names)
    else:
        present = _jsonl_keys(source, path)
        if present is None:
            return  # no parsable record at all: every line will be quarantined on its own
    missing = [c.name for c in source.required_columns if c.name not in present]
    if missing:
        raise MissingColumnError(source.name, path, missing)


def _jsonl_keys(source: Source, path: Path, sample: int = 100) -> set[str] | None:
    """Columns present in the first parsable records: JSON lines have no header, so a sample stands in."""
    present: set[str] = set()
    parsed = 0
    with _open_text(path) as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict):
                continue
            parsed += 1
            present.update(c.name for c in source.columns if _lookup(record, c.json_path) is not None)
            if parsed >= sample:
                break
    return present if parsed else None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_records(source: Source, path: Path) -> Iterator[Record | BadLine]:
    fmt = file_format(path)
    if fmt == "csv":
        yield from _read_csv(source, path)
    elif fmt == "parquet":
        yield from _read_parquet(source, path)
    else:
        yield from _read_jsonl(source, path)


def _read_csv(source: Source, path: Path) -> Iterator[Record | BadLine]:
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        positions = [header.index(c) if c in header else None for c in source.column_names]
        width = len(header)
        for row in reader:
            line = reader.line_num
            if not row:
                continue  # blank line
            if len(row) != width:
                yield BadLine(line, f"expected {width} fields, found {len(row)}", ",".join(row))
                continue
            yield line, [(row[p] if row[p] != "" else None) if p is not None else None for p in positions]


def _lookup(record: dict, dotted: str) -> object:
    value: object = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _read_jsonl(source: Source, path: Path) -> Iterator[Record | BadLine]:
    paths = [c.json_path for c in source.columns]
    with _open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield BadLine(line_no, f"malformed JSON: {exc.msg} at column {exc.colno}", text[:2000])
                continue
            if not isinstance(record, dict):
                yield BadLine(line_no, "a JSON line must hold an object", text[:2000])
                continue
            yield line_no, [_text(_lookup(record, p)) for p in paths]


def _read_parquet(source: Source, path: Path) -> Iterator[Record | BadLine]:
    table = pq.read_table(path)
    columns = []
    for name in source.column_names:
        if name in table.column_names:
            columns.append([_text(v) for v in table.column(name).to_pylist()])
        else:
            columns.append([None] * table.num_rows)
    for i in range(table.num_rows):
        yield i + 1, [col[i] for col in columns]
