{#- One row per distinct normalized identifier: the nodes of the identity graph. -#}
{#- Incremental (docs/incremental.md): a run recomputes, from every occurrence, only the identifiers it touches:
    those of the records in the batch (loaded since the last run, or in the partition window) and the old
    identifiers of those records, found as their neighbours in the graph before the run (macro
    identity_graph_touched). An identifier no record carries any more gets a tombstone row (n_records = 0) that
    replaces the stored one and the post-hook deletes. -#}
{{ config(
    materialized='incremental',
    unique_key=['identifier_type', 'identifier_value'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    tags=['event_sized'],
    post_hook="delete from {{ this }} where n_records = 0",
) }}
{%- set incremental = is_incremental() -%}
{%- if incremental -%}
    {#- The edges as they were before this run: int_identity_edges runs after this model (its depends_on). -#}
    {%- set edges_before = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='int_identity_edges') -%}
{%- endif %}
with

occurrences as (
    select * from {{ ref('int_identifier_occurrences') }}
),

{% if incremental -%}
batch as (
    select distinct
        record_source,
        identifier_type,
        identifier_value
    from occurrences
    where {{ incremental_batch('observed_at') }}
),

-- Identifiers of the batch and their neighbours before the run, whatever the source that links them.
touched as (
    select distinct
        identifier_type,
        identifier_value
    from ({{ identity_graph_touched('batch', edges_before) }}) as touched_by_source
),

{% endif -%}
nodes as (
    select
        identifier_type,
        identifier_value,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as n_records,
        {{ sorted_distinct_list('record_source') }} as sources,
        -- The watermark of the incremental runs: the latest load of a record carrying the identifier.
        max(_loaded_at) as _loaded_at
    from occurrences
    {%- if incremental %}
    where exists (
        select 1 from touched
        where
            touched.identifier_type = occurrences.identifier_type
            and touched.identifier_value = occurrences.identifier_value
    )
    {%- endif %}
    group by identifier_type, identifier_value
)

{%- if incremental %},

gone as (
    select
        stored.identifier_type,
        stored.identifier_value,
        stored.first_seen_at,
        stored.last_seen_at,
        0 as n_records,
        stored.sources,
        stored._loaded_at
    from {{ this }} as stored
    where
        exists (
            select 1 from touched
            where
                touched.identifier_type = stored.identifier_type
                and touched.identifier_value = stored.identifier_value
        )
        and not exists (
            select 1 from nodes
            where
                nodes.identifier_type = stored.identifier_type
                and nodes.identifier_value = stored.identifier_value
        )
)

{%- endif %}

select * from nodes
{%- if incremental %}
union all
select * from gone
{%- endif %}
