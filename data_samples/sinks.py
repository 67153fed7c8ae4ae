"""Writers that append chunk after chunk: CSV / Parquet per source, daily gzipped JSON lines for events."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


class TableSink:
    """One file per source; every chunk is appended, the header written once."""

    def __init__(self, root: Path, source: str, columns: list[str], fmt: str) -> None:
        self.source = source
        self.columns = columns
        self.fmt = fmt
        self.relpath = f"{source}/{source}.{'parquet' if fmt == 'parquet' else 'csv'}"
        self.path = root / self.relpath
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = pa.schema([(c, pa.string()) for c in columns])
        self.rows = 0
        self._writer: pacsv.CSVWriter | pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        missing = [c for c in self.columns if c not in table.column_names]
        if missing:
            raise ValueError(f"{self.source}: generator produced no column(s) {missing}")
        table = table.select(self.columns).cast(self.schema)
        if self._writer is None:
            if self.fmt == "parquet":
                self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
            else:
                opts = pacsv.WriteOptions(include_header=True, quoting_style="needed")
                self._writer = pacsv.CSVWriter(self.path, self.schema, write_options=opts)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is None:  # a source with no rows still gets its header
            self.write(pa.table({c: pa.array([], pa.string()) for c in self.columns}))
        assert self._writer is not None
        self._writer.close()


class JsonlSink:
    """Plain JSON lines, one file."""

    def __init__(self, root: Path, source: str) -> None:
        self.relpath = f"{source}/{source}.jsonl"
        self.path = root / self.relpath
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - kept open across chunks
        self.rows = 0

    def write_lines(self, lines: list[str]) -> None:
        if lines:
            self._fh.write("\n".join(lines) + "\n")
            self.rows += len(lines)

    def close(self) -> None:
        self._fh.close()


class DailyEventSink:
    """events/YYYY-MM-DD.jsonl.gz, one file per receivedAt day; gzip headers carry no name or time."""

    def __init__(self, root: Path, source: str = "events", level: int = 6) -> None:
        self.dir = root / source
        self.dir.mkdir(parents=True, exist_ok=True)
        self.source = source
        self.level = level
        self._files: dict[str, tuple[io.BufferedWriter, gzip.GzipFile]] = {}
        self.rows: dict[str, int] = {}

    def relpath(self, day: str) -> str:
        return f"{self.source}/{day}.jsonl.gz"

    def write_lines(self, day: str, lines: list[str]) -> None:
        if day not in self._files:
            raw = open(self.dir / f"{day}.jsonl.gz", "wb")  # noqa: SIM115 - kept open across chunks
            self._files[day] = (raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                   compresslevel=self.level))  # fmt: skip
            self.rows[self.relpath(day)] = 0
        if lines:
            self._files[day][1].write(("\n".join(lines) + "\n").encode("utf-8"))
            self.rows[self.relpath(day)] += len(lines)

    def write_array(self, day: str, lines: pa.Array) -> None:
        """Append an Arrow string array as lines, straight from its buffers (no Python strings)."""
        if len(lines) == 0:
            return
        self.write_lines(day, [])
        joined = pc.binary_join_element_wise(lines, "\n", "")
        offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[
            joined.offset : joined.offset + len(joined) + 1
        ]
        data = joined.buffers()[2]
        self._files[day][1].write(memoryview(data)[offsets[0] : offsets[-1]])
        self.rows[self.relpath(day)] += len(lines)

    def close(self) -> None:
        for raw, gz in self._files.values():
            gz.close()
            raw.close()
