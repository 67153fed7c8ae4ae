"""Loading source files into the warehouse's ``raw`` schema, validated against the input contract."""

from sen.ingest.loader import (
    DataDirError,
    IngestError,
    LoadResult,
    MissingColumnError,
    SourceProblemError,
    check_data_dir,
    ingest_source,
    load_source,
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
