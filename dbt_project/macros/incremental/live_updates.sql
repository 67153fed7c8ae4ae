{#- Live-lane updates of the per-record person tables (int_record_persons, person_events; docs/collect.md).

    The nightly build rebuilds them whole. A live-lane run (var live, every few minutes) updates them in place:
    the records loaded since the stored `_loaded_at`, and the records of the persons the identity resolution
    merged into another, split or removed since the stored `_identity_at` (identity.person_id_history). -#}

{#- True in a live-lane run (dbt var live, set by orchestration/dbt/partitions.py run_window_vars). -#}
{% macro is_live_run() -%}
    {{ return(var('live', false) in [true, 'true', '1', 1]) }}
{%- endmacro %}

{#- The watermarks of an incremental live update, read once at compile time: loaded (text or none), identity
    (text or none), moved (count of the identity events since `identity`; 0 outside an incremental run). -#}
{% macro live_watermarks() -%}
    {%- set marks = {'loaded': none, 'identity': none, 'moved': 0} -%}
    {#- A table built before these columns existed: this run recomputes every record once (and adds them). -#}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
        if execute and is_incremental() else [] -%}
    {%- if execute and is_incremental() and '_loaded_at' in columns and '_identity_at' in columns -%}
        {%- do marks.update({'loaded': incremental_watermark('_loaded_at')}) -%}
        {%- do marks.update({'identity': incremental_watermark('_identity_at')}) -%}
        {%- if marks['identity'] -%}
            {%- set moved = run_query(
                "select count(*) from " ~ source('identity', 'person_id_history') ~ " where event <> 'created'"
                ~ " and occurred_at > cast('" ~ marks['identity'] ~ "' as timestamp)"
            ).columns[0].values()[0] -%}
            {%- do marks.update({'moved': moved}) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(marks) }}
{%- endmacro %}

{#- The persons whose records may now belong to another person: merged into another, split (and the person
    split from), or removed since `identity_wm`. -#}
{% macro moved_persons(identity_wm) -%}
    select person_id
    from {{ source('identity', 'person_id_history') }}
    where event <> 'created' and occurred_at > cast('{{ identity_wm }}' as timestamp)
    union
    select related_person_id as person_id
    from {{ source('identity', 'person_id_history') }}
    where event = 'split' and occurred_at > cast('{{ identity_wm }}' as timestamp)
{%- endmacro %}

{#- The latest identity event, stored on every row written (the `_identity_at` watermark). -#}
{% macro latest_identity_event() -%}
    (select max(history.occurred_at) from {{ source('identity', 'person_id_history') }} as history)
{%- endmacro %}
