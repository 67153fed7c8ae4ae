-- The person behind every record (event, order, POS transaction, CRM row, ticket, chat, survey, email event):
-- the person of the record's strongest identifier, so a kiosk device (cut by the guards) never decides whose
-- order it is when a customer id is on the record too.
{#- Nightly (and any run without var live): a table, every record. A live-lane run (var live, every few minutes)
    updates it in place instead, so that its cost follows the new data, not the history (docs/collect.md):
    - the records loaded since the last build (int_identifier_occurrences._loaded_at after the stored one);
    - the records held by a person the identity resolution merged into another, split or removed since the last
      build (identity.person_id_history after the stored `_identity_at`): only when there are any, as this reads
      the stored rows and the occurrences of those records across the history.
    Each row carries `_loaded_at` (its occurrences' load), `_identity_at` (the latest identity event when it was
    written) and `_mapped_at` (the dbt invocation that wrote it: person_events takes the rows written since its
    own last build). A record whose identifiers all left the map keeps its row until the nightly build. -#}
{%- set live = var('live', false) in [true, 'true', '1', 1] -%}
{{ config(
    materialized=('incremental' if live else 'table'),
    unique_key=['record_source', 'record_id'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
{%- set loaded_wm = none -%}
{%- set moved = 0 -%}
{%- set identity_wm = none -%}
{%- if execute -%}
    {%- if is_incremental() -%}
        {%- set loaded_wm = incremental_watermark('_loaded_at') -%}
        {%- set identity_wm = incremental_watermark('_identity_at') -%}
        {%- if identity_wm -%}
            {%- set moved = run_query(
                "select count(*) from " ~ source('identity', 'person_id_history') ~ " where event <> 'created'"
                ~ " and occurred_at > cast('" ~ identity_wm ~ "' as timestamp)"
            ).columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
{%- endif %}
with

{% if moved > 0 %}
-- Persons whose records may now belong to another: merged into another, split, or removed since the last build.
moved_persons as (
    select person_id
    from {{ source('identity', 'person_id_history') }}
    where event <> 'created' and occurred_at > cast('{{ identity_wm }}' as timestamp)
    union
    select related_person_id as person_id
    from {{ source('identity', 'person_id_history') }}
    where event = 'split' and occurred_at > cast('{{ identity_wm }}' as timestamp)
),

touched_records as (
    select distinct
        stored.record_source,
        stored.record_id
    from {{ this }} as stored
    inner join moved_persons on stored.person_id = moved_persons.person_id
),
{% endif %}

occurrences as (
    select * from {{ ref('int_identifier_occurrences') }}
    {% if loaded_wm %}where _loaded_at > {{ instant_literal(loaded_wm) }}{% endif %}
    {% if moved > 0 %}
        union all
        select occurrences.*
        from {{ ref('int_identifier_occurrences') }} as occurrences
        inner join touched_records
            on
                occurrences.record_source = touched_records.record_source
                and occurrences.record_id = touched_records.record_id
        {% if loaded_wm %}where occurrences._loaded_at <= {{ instant_literal(loaded_wm) }}{% endif %}
    {% endif %}
),

person_map as (
    select * from {{ source('identity', 'identifier_person_map') }}
),

ranked as (
    select
        occurrences.record_source,
        occurrences.record_id,
        person_map.person_id,
        occurrences._loaded_at,
        row_number() over (
            partition by occurrences.record_source, occurrences.record_id
            order by
                {{ identifier_type_rank('occurrences.identifier_type') }},
                person_map.person_id
        ) as strength_rank
    from occurrences
    inner join person_map
        on
            occurrences.identifier_type = person_map.identifier_type
            and occurrences.identifier_value = person_map.identifier_value
),

strongest as (
    select
        record_source,
        record_id,
        person_id,
        _loaded_at,
        (select max(history.occurred_at) from {{ source('identity', 'person_id_history') }} as history)
            as _identity_at,
        {{ instant_literal(run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ '+00') }} as _mapped_at
    from ranked
    where strength_rank = 1
)

select * from strongest
