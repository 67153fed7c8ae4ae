{#- Reverse-ETL runs (sync.sync_runs, written by the sync engine) as a dbt model for MetricFlow. The table exists
    only once a sync has run, so it is created empty first, with the engine's columns (reverse_etl/warehouse.py;
    tests/dbt/test_semantic_layer.py fails when they drift apart). -#}
{{ config(pre_hook="{{ create_sync_runs_if_missing() }}") }}

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
