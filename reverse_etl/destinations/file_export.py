"""File export (CSV or Parquet) for tools without an API.

Each run writes one file `<directory>/<sync_name>/<sync_name>__<run_id>.<ext>` holding the planned
changes, one row per record with `_sen_op` = add | change | remove, straight from the warehouse with
DuckDB's COPY (no row passes through Python). The file is written under a temporary name and renamed,
so a reader never sees half a file; state is committed only after the rename (a crash in between makes
the rerun write the same changes again, which a consumer applying upserts/deletes absorbs).
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
        literal = str(tmp).replace("'", "''")
        conn.execute(f"COPY ({select_sql}) TO '{literal}' ({options})")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if write_hook is not None:
            write_hook(str(tmp))
        os.replace(tmp, final)
        return str(final)
