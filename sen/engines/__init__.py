"""Where the pipeline runs: DuckDB on one machine (default) or Apache Spark (``CDP_ENGINE=spark``)."""
