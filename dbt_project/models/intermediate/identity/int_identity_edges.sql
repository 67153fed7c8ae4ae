{#- Identifier pairs seen together in one record: the edges of the identity graph, one row per unordered pair and
    record source. Every pair of a record is linked (not a star around its strongest identifier): a record holds
    at most one identifier per type, so at most 28 pairs, which stays linear in the number of records, and the
    over-merge guards of sen.identity need the direct pairs (an email typed with many phones) that a star would
    hide. Erasure requests and email engagement never create edges. -#}
{#- Incremental (docs/incremental.md): a run recomputes only the edges with an end it touches, per source: the
    identifiers of the records in the batch (loaded since the last run, or in the partition window) and their
    neighbours before the run (the old identifiers of a record seen again). An edge's figures come from every
    record of its source carrying one of its ends, so those records are the only ones paired. An edge no record
    links any more gets a tombstone row (n_records = 0) that the post-hook deletes. -#}
{{ config(
    materialized='incremental',
    unique_key=['id_a_type', 'id_a', 'id_b_type', 'id_b', 'source'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    tags=['event_sized'],
    post_hook="delete from {{ this }} where n_records = 0",
) }}
{#- Runs after the nodes, which read the edges as they were before the run. -#}
-- depends_on: {{ ref('int_identity_nodes') }}
{%- set incremental = is_incremental() %}
with

occurrences as (
    select * from {{ ref('int_identifier_occurrences') }}
    where record_source not in ('erasure', 'email_events')
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

touched as (
    {{ identity_graph_touched('batch', this) }}
),

-- Every record of a source that carries an identifier touched in that source.
related as (
    select distinct
        occurrences.record_source,
        occurrences.record_id
    from occurrences
    where exists (
        select 1 from touched
        where
            touched.record_source = occurrences.record_source
            and touched.identifier_type = occurrences.identifier_type
            and touched.identifier_value = occurrences.identifier_value
    )
),

{% endif -%}
scoped as (
    select occurrences.* from occurrences
    {%- if incremental %}
    where exists (
        select 1 from related
        where related.record_source = occurrences.record_source and related.record_id = occurrences.record_id
    )
    {%- endif %}
),

counted as (
    select
        *,
        count(*) over (partition by record_source, record_id) as n_identifiers
    from scoped
),

linkable as (
    select * from counted
    where n_identifiers > 1
),

pairs as (
    select
        -- `source` is the column name sen.identity reads.
        a.record_source as source,  -- noqa: RF04
        a.identifier_type as id_a_type,
        a.identifier_value as id_a,
        b.identifier_type as id_b_type,
        b.identifier_value as id_b,
        a.observed_at,
        a._loaded_at
    from linkable as a
    inner join linkable as b
        on
            a.record_source = b.record_source
            and a.record_id = b.record_id
            -- Canonical order: (type, value) of a sorts before that of b, so each pair appears once.
            and (
                a.identifier_type < b.identifier_type
                or (a.identifier_type = b.identifier_type and a.identifier_value < b.identifier_value)
            )
),

-- In an incremental run, only pairs with a touched end: the records paired above are all their records.
recomputed_pairs as (
    select pairs.* from pairs
    {%- if incremental %}
    where {{ identity_edge_touched('pairs') }}
    {%- endif %}
),

edges as (
    select
        id_a_type,
        id_a,
        id_b_type,
        id_b,
        source,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as n_records,
        -- The watermark of the incremental runs: the latest load of a linking record.
        max(_loaded_at) as _loaded_at
    from recomputed_pairs
    group by id_a_type, id_a, id_b_type, id_b, source
)

{%- if incremental %},

gone as (
    select
        stored.id_a_type,
        stored.id_a,
        stored.id_b_type,
        stored.id_b,
        stored.source,
        stored.first_seen_at,
        stored.last_seen_at,
        0 as n_records,
        stored._loaded_at
    from {{ this }} as stored
    where
        {{ identity_edge_touched('stored') }}
        and not exists (
            select 1 from edges
            where
                edges.id_a_type = stored.id_a_type
                and edges.id_a = stored.id_a
                and edges.id_b_type = stored.id_b_type
                and edges.id_b = stored.id_b
                and edges.source = stored.source
        )
)

{%- endif %}

select * from edges
{%- if incremental %}
union all
select * from gone
{%- endif %}
