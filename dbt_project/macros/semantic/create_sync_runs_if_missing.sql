{#- sync.sync_runs as the sync engine creates it (reverse_etl/warehouse.py), for warehouses where no sync has
    run yet. "if not exists": the engine's own table, once there, is left alone. -#}
{% macro create_sync_runs_if_missing() %}
    create schema if not exists sync;
    create table if not exists sync.sync_runs (
        run_id varchar primary key,
        sync_name varchar not null,
        destination varchar not null,
        mode varchar not null,
        dry_run boolean not null,
        status varchar not null,
        started_at timestamp not null,
        finished_at timestamp,
        duration_s double,
        source_rows bigint,
        added bigint,
        changed bigint,
        removed bigint,
        unchanged bigint,
        rejected bigint,
        sent_rows bigint,
        requests bigint,
        retries bigint,
        unattributed_invalid bigint,
        error varchar
    )
{% endmacro %}
