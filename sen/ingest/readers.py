"""Readers that turn one source file into records of text values, keeping each record's line number.

Structure errors (a broken JSON line, a CSV row with the wrong number of fields) are reported per line so the
loader can quarantine them; type and value checks happen afterwards, vectorized, in the warehouse.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import math
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import pyarrow.parquet as pq

from sen.contracts import Source

CSV_SUFFIXES = (".csv", ".csv.gz")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
ACCEPTED_SUFFIXES = CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES


class IngestError(ValueError):
    """Input that must stop the build with a message naming the source and the fix."""


class MissingColumnError(IngestError):
    """A file lacks a column the contract requires; the whole source stops."""

    def __init__(self, source: str, path: Path, columns: list[str], hint: str = ""):
        self.source, self.path, self.columns = source, path, columns
        super().__init__(
            f"source '{source}': file {path} is missing required column(s) {', '.join(columns)} "
            f"(see sen/contracts/sources.yml){hint}; nothing from this source was loaded"
        )


class UnreadableFileError(IngestError):
    """A file cannot be decoded (encoding, compression, format); it is reported and skipped, never a crash."""


# Separators tried on a CSV header: comma (the contract), semicolon (Excel in locales with a decimal comma),
# tab and pipe (database exports).
SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Bytes handed to the encoding detector: enough for a confident guess, bounded for very large files.
DETECT_BYTES = 1 << 20
# A second candidate this close to the best one, decoding the file differently, makes the guess a coin toss.
AMBIGUOUS_CHAOS = 0.005
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


# Parsing limits of one JSON line: a hostile or broken record is quarantined with its line, never a crash of the
# whole file (Python's parser raises RecursionError on ~1,000 levels and ValueError on 4,300-digit integers).
MAX_LINE_CHARS = 1 << 20  # a JSON line (an event) of more than a million characters is not a record
MAX_JSON_DEPTH = 64  # Segment payloads nest a handful of levels
MAX_NUMBER_CHARS = 100  # a JSON number longer than this is no id, count or amount
# A CSV field may be longer than the csv module's default 128 KB limit: the loader refuses long values per
# value (with a reason), so one long field never makes the whole file unreadable.
CSV_FIELD_LIMIT = 1 << 26


class ValueLimitError(ValueError):
    """A JSON value beyond a parsing limit (a number too long, NaN / Infinity)."""


def _json_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueLimitError(f"number of {len(text):,} digits (limit {MAX_NUMBER_CHARS})")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueLimitError(f"number of {len(text):,} characters (limit {MAX_NUMBER_CHARS})")
    value = float(text)
    if not math.isfinite(value):
        raise ValueLimitError(f"number {text[:40]} is not finite")
    return value


def _json_constant(name: str) -> float:
    raise ValueLimitError(f"{name} is not a JSON number")


def _depth(value: object) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def parse_json_line(text: str) -> object:
    """One JSON value, strictly: NaN, Infinity and numbers beyond the limits raise ValueLimitError, deep
    nesting raises ValueLimitError (also where Python's own parser would raise RecursionError)."""
    if len(text) > MAX_LINE_CHARS:
        raise ValueLimitError(f"line of {len(text):,} characters (limit {MAX_LINE_CHARS:,})")
    try:
        value = json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except RecursionError:
        raise ValueLimitError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    # Counting brackets is cheap and bounds the depth: only a line with many of them is walked.
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        raise ValueLimitError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str
    text: str


Record = tuple[int, list[str | None]]  # (line number, values in contract column order)


def accepted_file(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and not name.startswith((".", "_")) and name.endswith(ACCEPTED_SUFFIXES)


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")  # noqa: SIM115 - closed by the caller


def _is_utf8(path: Path) -> bool:
    """The whole (decompressed) file decodes as UTF-8; incremental, so a multi-byte character may span blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with _open_binary(path) as handle:
        try:
            for block in iter(lambda: handle.read(1 << 22), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def detect_encoding(path: Path) -> str:
    """The file's text encoding: a byte-order mark, else UTF-8 when the whole file is valid UTF-8, else the
    guess of charset-normalizer when it is clear. Raise UnreadableFileError ("save as UTF-8") otherwise."""
    with _open_binary(path) as handle:
        head = handle.read(DETECT_BYTES)
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding
    if _is_utf8(path):
        return "utf-8"
    matches = list(charset_normalizer.from_bytes(head))
    if not matches:
        raise UnreadableFileError(
            "not UTF-8 and no text encoding recognised; save the file as UTF-8 (CSV UTF-8 in Excel)"
        )
    best = matches[0]
    rivals = [
        m.encoding for m in matches[1:] if m.chaos - best.chaos <= AMBIGUOUS_CHAOS and str(m) != str(best)
    ]
    if rivals:
        raise UnreadableFileError(
            f"not UTF-8, and its encoding is ambiguous ({best.encoding} or {', '.join(rivals[:3])}); "
            "save the file as UTF-8 (CSV UTF-8 in Excel)"
        )
    return best.encoding


class _NfcText(io.TextIOBase):
    """Text normalised to NFC: Windows-1258 writes Vietnamese with combining accents (e + U+0301), which
    would otherwise never equal the same name typed in UTF-8."""

    def __init__(self, inner: io.TextIOBase):
        self._inner = inner

    def __iter__(self) -> Iterator[str]:
        for line in self._inner:
            yield unicodedata.normalize("NFC", line)

    def __next__(self) -> str:
        line = next(self._inner)
        return unicodedata.normalize("NFC", line)

    def readline(self, size: int = -1) -> str:
        return unicodedata.normalize("NFC", self._inner.readline(size))

    def close(self) -> None:
        self._inner.close()


def _open_text(path: Path, encoding: str = "utf-8-sig") -> io.TextIOBase:
    if encoding == "utf-8":
        encoding = "utf-8-sig"  # a BOM, if any, is not part of the first column's name
    text = io.TextIOWrapper(_open_binary(path), encoding=encoding, newline="")
    if encoding.replace("_", "").replace("-", "").lower() in ("cp1258", "windows1258"):
        return _NfcText(text)
    return text


def _separator_of(header_line: str, source: Source) -> str:
    """The separator that splits the header into the most contract columns (then the most fields)."""
    known = set(source.column_names)

    def score(sep: str) -> tuple[int, int, int]:
        fields = [f.strip() for f in next(csv.reader([header_line], delimiter=sep), [])]
        return (sum(f in known for f in fields), len(fields), sep == ",")

    return max(SEPARATORS, key=score)


def file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return "jsonl"


@dataclass(frozen=True)
class TextLayout:
    """How a text file is read: its encoding and, for CSV, its separator."""

    encoding: str = "utf-8"
    separator: str = ","


def check_header(source: Source, path: Path) -> TextLayout:
    """Detect encoding and separator; raise MissingColumnError when a file lacks a required column."""
    fmt = file_format(path)
    if fmt == "parquet":
        present = set(pq.read_schema(path).names)
        layout = TextLayout()
    else:
        layout = TextLayout(encoding=detect_encoding(path))
        if fmt == "csv":
            with _open_text(path, layout.encoding) as handle:
                header_line = handle.readline()
            layout = TextLayout(layout.encoding, _separator_of(header_line, source))
            header = next(csv.reader([header_line], delimiter=layout.separator), [])
            present = {h.strip() for h in header}
        else:
            present = _jsonl_keys(source, path, layout.encoding)
            if present is None:
                return layout  # no parsable record at all: every line will be quarantined on its own
    missing = [c.name for c in source.required_columns if c.name not in present]
    if missing:
        hint = ""
        if fmt == "csv":
            name = SEPARATOR_NAMES[layout.separator]
            hint = (
                f"; read as {layout.encoding} with the {name} separator '{layout.separator}', "
                f"the header is {header_line.strip()[:120]!r}"
            )
        raise MissingColumnError(source.name, path, missing, hint)
    return layout


def _jsonl_keys(source: Source, path: Path, encoding: str = "utf-8", sample: int = 100) -> set[str] | None:
    """Columns present in the first parsable records: JSON lines have no header, so a sample stands in."""
    present: set[str] = set()
    parsed = 0
    with _open_text(path, encoding) as handle:
        for line in handle:
            try:
                record = parse_json_line(line)
            except ValueError:  # JSONDecodeError and ValueLimitError: quarantined when the file is read
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


def read_records(source: Source, path: Path, layout: TextLayout | None = None) -> Iterator[Record | BadLine]:
    fmt = file_format(path)
    layout = layout or TextLayout()
    if fmt == "csv":
        yield from _read_csv(source, path, layout)
    elif fmt == "parquet":
        yield from _read_parquet(source, path)
    else:
        yield from _read_jsonl(source, path, layout)


def _read_csv(source: Source, path: Path, layout: TextLayout) -> Iterator[Record | BadLine]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    with _open_text(path, layout.encoding) as handle:
        reader = csv.reader(handle, delimiter=layout.separator)
        header = [h.strip() for h in next(reader, [])]
        positions = [header.index(c) if c in header else None for c in source.column_names]
        width = len(header)
        while True:
            before = reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if reader.line_num == before:  # no progress: the rest of the file cannot be read
                    raise
                yield BadLine(reader.line_num, f"unreadable CSV row: {exc}", "")
                continue
            line = reader.line_num
            if not row:
                continue  # blank line
            if len(row) != width:
                yield BadLine(line, f"expected {width} fields, found {len(row)}", layout.separator.join(row))
                continue
            yield line, [(row[p] if row[p] != "" else None) if p is not None else None for p in positions]


def _lookup(record: dict, dotted: str) -> object:
    value: object = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _read_jsonl(source: Source, path: Path, layout: TextLayout) -> Iterator[Record | BadLine]:
    paths = [c.json_path for c in source.columns]
    with _open_text(path, layout.encoding) as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                record = parse_json_line(text)
            except json.JSONDecodeError as exc:
                yield BadLine(line_no, f"malformed JSON: {exc.msg} at column {exc.colno}", text[:2000])
                continue
            except ValueError as exc:  # ValueLimitError, or any value Python's parser refuses
                yield BadLine(line_no, f"JSON beyond a parsing limit: {exc}", text[:2000])
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
