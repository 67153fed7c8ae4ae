{#- The marts read reverse-ETL state (the contact ledger, dead push tokens) that the sync engine writes.
    On a fresh warehouse no sync has run yet, so the tables are created empty here, with the same columns as
    reverse_etl/warehouse.py (the engine's own DDL, also "create if not exists", is the source of truth). -#}
{% macro bootstrap_sync_state() %}
    {% if execute %}
        {% set ddl %}
            create schema if not exists sync;
            create table if not exists sync.contact_ledger (
                person_id varchar,
                channel varchar not null,
                campaign varchar,
                destination varchar not null,
                sync_name varchar not null,
                sent_at timestamp not null,
                run_id varchar,
                message_key varchar,
                delivery varchar
            );
            create table if not exists sync.dead_push_tokens (
                token varchar not null,
                detected_at timestamp not null,
                sync_name varchar not null
            );
        {% endset %}
        {% do run_query(ddl) %}
    {% endif %}
{% endmacro %}
