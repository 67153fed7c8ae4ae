{#- Reverse-ETL runs (sync.sync_runs, written by the sync engine) as a dbt model for MetricFlow. On a fresh
    warehouse the table is created empty, with the engine's columns, when dbt opens the warehouse
    (reverse_etl/dbt_sync_schema.py runs reverse_etl/state_schema.py). -#}

with

runs as (
    select * from {{ source('sync', 'sync_runs') }}
),

typed as (
    select
        run_id,
        sync_name,
        destination,
        mode,
        dry_run,
        status,
        started_at,
        finished_at,
        duration_s,
        source_rows,
        added,
        changed,
        removed,
        rejected,
        sent_rows
    from runs
)

select * from typed
