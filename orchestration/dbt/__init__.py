"""dbt in the code location: the project, its target folder, the daily partitions, the assets and the rebuild."""
