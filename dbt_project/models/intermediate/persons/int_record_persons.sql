-- The person behind every record (event, order, POS transaction, CRM row, ticket, chat, survey, email event):
-- the person of the record's strongest identifier, so a kiosk device (cut by the guards) never decides whose
-- order it is when a customer id is on the record too.
{#- Nightly (and any run without var live): a table, every record. A live-lane run (var live, every few minutes)
    updates it in place instead, so that its cost follows the new data, not the history (docs/collect.md):
    - the records loaded since the last build (int_identifier_occurrences._loaded_at after the stored one);
    - the records held by a person the identity resolution merged into another, split or removed since the last
      build (identity.person_id_history after the stored `_identity_at`): only when there are any, as this reads
      the stored rows and the occurrences of those records across the history.
    Each row carries `_loaded_at` (its occurrences' load) and `_identity_at` (the latest identity event when it
    was written), the two watermarks. A record whose identifiers all left the map keeps its row until the nightly
    build. -#}
{{ config(
    materialized=('incremental' if is_live_run() else 'table'),
    unique_key=['record_source', 'record_id'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}
{%- set marks = live_watermarks() %}
with

{% if marks.moved > 0 %}
moved_persons as (
    {{ moved_persons(marks.identity) }}
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
    {% if marks.loaded %}where _loaded_at > {{ instant_literal(marks.loaded) }}{% endif %}
    {% if marks.moved > 0 %}
        union all
        select occurrences.*
        from {{ ref('int_identifier_occurrences') }} as occurrences
        inner join touched_records
            on
                occurrences.record_source = touched_records.record_source
                and occurrences.record_id = touched_records.record_id
        {% if marks.loaded %}where occurrences._loaded_at <= {{ instant_literal(marks.loaded) }}{% endif %}
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
        {{ latest_identity_event() }} as _identity_at
    from ranked
    where strength_rank = 1
)

select * from strongest
