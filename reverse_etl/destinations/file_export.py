"""File export (CSV or Parquet) for tools without an API.

Each run writes one file `<directory>/<sync_name>/<sync_name>__<run_id>.<ext>` holding the planned
changes, one row per record with `_sen_op` = add | change | remove, straight from the warehouse with
DuckDB's COPY (no row passes through Python). The file is written under a temporary name and renamed,
so a reader never sees half a file; state is committed only after the rename (a crash in between makes
the rerun write the same changes again, which a consumer applying upserts/deletes absorbs).

CSV files are opened in spreadsheets, where a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return is a formula (`=HYPERLINK(...)` typed as a CRM name). Per OWASP's CSV-injection guidance such a text
value is written with a leading `'`, which spreadsheets show as text; a plain number (`-5`, `+84912345678`)
cannot be a formula and is written unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import duckdb
from pydantic import Field

from reverse_etl.destinations.base import DestinationConfig, FieldSpec, FileDestination
from reverse_etl.destinations.webhook import _FIELD_NAME
from reverse_etl.http import RequestStats


class FileExportConfig(DestinationConfig):
    type: Literal["file_export"]
    directory: str | None = None
    directory_env: str | None = Field(None, description="environment variable holding the directory")
    format: Literal["csv", "parquet"] = "parquet"

    kind: ClassVar[str] = "file"
    max_batch_size: ClassVar[int] = 2**62
    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert", "add_remove"})
    allow_custom_transforms: ClassVar[bool] = True

    def field_spec(self, name: str) -> FieldSpec | None:
        return FieldSpec("text") if _FIELD_NAME.fullmatch(name) else None

    def allowed_fields_hint(self) -> str:
        return "any name of letters, digits, '_', '.', '-'"

    def check_sync(self, mode: str, mapped: frozenset[str]) -> None:
        if not (self.directory or self.directory_env):
            raise ValueError("destination.directory: set `directory` or `directory_env`")

    def resolved_directory(self) -> Path:
        if self.directory_env and os.environ.get(self.directory_env):
            return Path(os.environ[self.directory_env])
        if self.directory:
            return Path(self.directory)
        raise ValueError("file_export needs `directory` or a set `directory_env`")

    def build_client(self, stats: RequestStats, sync_name: str) -> FileExportClient:
        return FileExportClient(self, stats, sync_name)


# A text cell a spreadsheet would evaluate: OWASP's list of formula prefixes.
FORMULA_PREFIX = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?[0-9]+([.][0-9]+)?$"


def neutralized_csv_select(conn: duckdb.DuckDBPyConnection, select_sql: str) -> str:
    """``select_sql`` with every text column's formula-like values prefixed by a single quote."""
    described = conn.execute(f"select * from ({select_sql}) limit 0")
    columns = [(d[0], str(d[1]).upper()) for d in described.description]
    described.fetchall()
    parts = []
    for name, kind in columns:
        col = '"' + name.replace('"', '""') + '"'
        if kind in ("VARCHAR", "STRING"):
            formula = f"regexp_matches({col}, '{FORMULA_PREFIX}')"
            number = f"regexp_matches({col}, '{PLAIN_NUMBER}')"
            parts.append(
                f"case when {formula} and not {number} then chr(39) || {col} else {col} end as {col}"
            )
        else:
            parts.append(col)
    return f"select {', '.join(parts)} from ({select_sql})"


class FileExportClient(FileDestination):
    config: FileExportConfig

    def write(
        self,
        conn: duckdb.DuckDBPyConnection,
        select_sql: str,
        run_id: str,
        write_hook: Callable[[str], None] | None = None,
    ) -> str:
        folder = self.config.resolved_directory() / self.sync_name
        folder.mkdir(parents=True, exist_ok=True)
        ext = self.config.format
        final = folder / f"{self.sync_name}__{run_id}.{ext}"
        tmp = folder / f".{final.name}.tmp"
        options = "FORMAT parquet" if ext == "parquet" else "FORMAT csv, HEADER true"
        if ext == "csv":
            select_sql = neutralized_csv_select(conn, select_sql)
        literal = str(tmp).replace("'", "''")
        conn.execute(f"COPY ({select_sql}) TO '{literal}' ({options})")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if write_hook is not None:
            write_hook(str(tmp))
        os.replace(tmp, final)
        return str(final)
