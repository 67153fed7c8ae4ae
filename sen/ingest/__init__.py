"""Loading source files into the warehouse's ``raw`` schema, validated against the input contract."""

from sen.ingest.loader import LoadResult, MissingColumnError, load_source

__all__ = ["LoadResult", "MissingColumnError", "load_source"]
