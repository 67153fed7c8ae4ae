{#- Identifier pairs seen together in one record: the edges of the identity graph, one row per unordered pair and
    record source. Every pair of a record is linked (not a star around its strongest identifier): a record holds
    at most one identifier per type, so at most 28 pairs, which stays linear in the number of records, and the
    over-merge guards of sen.identity need the direct pairs (an email typed with many phones) that a star would
    hide. Erasure requests and email engagement never create edges. -#}
{#- Incremental (docs/incremental.md), in proportion to the new data. The occurrences loaded since the last run
    split in two (macro identity_graph_batches):
    - the pairs of records first loaded since then add their figures to the stored edges (min, max, count);
    - records seen again may have linked other identifiers before: every edge with an end they touch, per
      source (their identifiers and those identifiers' neighbours before the run), is recomputed from every
      record of that source carrying a touched identifier. An edge no record links any more gets a tombstone row
      (n_records = 0) that the post-hook deletes. -#}
{{ config(
    materialized='incremental',
    unique_key=['id_a_type', 'id_a', 'id_b_type', 'id_b', 'source'],
    tags=['event_sized'],
    pre_hook="{{ identity_graph_join_hints(true) if is_incremental() }}",
    post_hook=[
        "{{ delete_where(this, 'n_records = 0') }}",
        "{{ identity_graph_join_hints(false) if is_incremental() }}",
    ],
) }}
{#- Runs after the nodes, which read the edges as they were before the run. -#}
-- depends_on: {{ ref('int_identity_nodes') }}
{%- set incremental = is_incremental() %}
{%- if incremental %}
    {%- set batches = identity_graph_batches() %}
{%- endif %}
{%- set occurrences = ref('int_identifier_occurrences') %}
{#- Erasure requests and email engagement never create edges. -#}
{%- set linking = "occurrences.record_source not in ('erasure', 'email_events')" %}
-- int_identifier_occurrences is read by each step below rather than through one shared CTE: DuckDB materializes a
-- CTE read more than once (all ~100M rows at 50M events) and the load-time filters would no longer reach the scan.
with

{% if incremental -%}
seen_again as (
    select distinct
        record_source,
        identifier_type,
        identifier_value
    from {{ occurrences }} as occurrences
    where {{ linking }} and {{ batches.seen_again }}
),

touched as (
    {{ identity_graph_touched('seen_again', this) }}
),

-- Every record of a source that carries an identifier touched in that source.
related as (
    select distinct
        occurrences.record_source,
        occurrences.record_id
    from {{ occurrences }} as occurrences
    where exists (
        select 1 from touched
        where
            touched.record_source = occurrences.record_source
            and touched.identifier_type = occurrences.identifier_type
            and touched.identifier_value = occurrences.identifier_value
    )
),

{% endif -%}
-- The records to pair: the new ones, and in an incremental run the related ones seen before. Two disjoint
-- parts rather than one `or exists`, which DuckDB may plan as a grouping of every stored record.
scoped as (
    select
        occurrences.*,
        true as is_new
    from {{ occurrences }} as occurrences
    where {{ linking }}
    {%- if incremental %} and {{ batches.new }}

    union all

    select
        occurrences.*,
        false as is_new
    from {{ occurrences }} as occurrences
    where
        {{ linking }}
        and not ({{ batches.new }})
        and exists (
            select 1 from related
            where
                related.record_source = occurrences.record_source
                and related.record_id = occurrences.record_id
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
        a._loaded_at,
        a.is_new
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

{%- set edge_figures -%}
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as n_records,
        -- The watermark of the incremental runs: the latest load of a linking record.
        max(_loaded_at) as _loaded_at
{%- endset %}
{%- set edge_key = 'id_a_type, id_a, id_b_type, id_b, source' %}


-- Every edge in a full build; in an incremental run, those with a touched end, from all their records (the
-- records paired above).
recomputed as (
    select
        {{ edge_key }},
        {{ edge_figures }}
    from pairs
    {%- if incremental %}
    where {{ identity_edge_touched('pairs') }}
    {%- endif %}
    group by {{ edge_key }}
),

{%- if incremental %}

-- Stored edges with a touched end: two semi joins rather than one `or exists` (see scoped).
stored_touched as (
    select stored.*
    from {{ this }} as stored
    where {{ identity_edge_end_touched('stored', 'a') }}

    union

    select stored.*
    from {{ this }} as stored
    where {{ identity_edge_end_touched('stored', 'b') }}
),

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
    from stored_touched as stored
    where not exists (
        select 1 from recomputed
        where
            recomputed.id_a_type = stored.id_a_type
            and recomputed.id_a = stored.id_a
            and recomputed.id_b_type = stored.id_b_type
            and recomputed.id_b = stored.id_b
            and recomputed.source = stored.source
    )
),

-- The pairs of the new records, for the edges not recomputed above.
added as (
    select
        {{ edge_key }},
        {{ edge_figures }}
    from pairs
    where is_new and not {{ identity_edge_touched('pairs') }}
    group by {{ edge_key }}
),

merged as (
    select
        added.id_a_type,
        added.id_a,
        added.id_b_type,
        added.id_b,
        added.source,
        -- least/greatest skip nulls: an edge new to the graph keeps the new figures.
        least(stored.first_seen_at, added.first_seen_at) as first_seen_at,
        greatest(stored.last_seen_at, added.last_seen_at) as last_seen_at,
        coalesce(stored.n_records, 0) + added.n_records as n_records,
        greatest(stored._loaded_at, added._loaded_at) as _loaded_at
    -- The small side on the right, the build side of the hash join (identity_graph_join_hints).
    from {{ this }} as stored
    right join added
        on
            stored.id_a_type = added.id_a_type
            and stored.id_a = added.id_a
            and stored.id_b_type = added.id_b_type
            and stored.id_b = added.id_b
            and stored.source = added.source
),

{%- endif %}

graph_rows as (
    select * from recomputed
    {%- if incremental %}
    union all
    select * from gone
    union all
    select * from merged
    {%- endif %}
),

-- The keys of both ends (int_identifier_keys); a missing one would show as a null key, which a test catches. The
-- graph rows on the right: the build side of the hash joins.
with_key_a as (
    select
        keys_a.identifier_key as key_a,
        graph_rows.*
    from {{ ref('int_identifier_keys') }} as keys_a
    right join graph_rows  -- noqa: CV08
        on
            keys_a.identifier_type = graph_rows.id_a_type
            and keys_a.identifier_value = graph_rows.id_a
)

select
    edges.key_a,
    keys_b.identifier_key as key_b,
    edges.id_a_type,
    edges.id_a,
    edges.id_b_type,
    edges.id_b,
    edges.source,
    edges.first_seen_at,
    edges.last_seen_at,
    edges.n_records,
    edges._loaded_at
from {{ ref('int_identifier_keys') }} as keys_b
right join with_key_a as edges  -- noqa: CV08
    on
        keys_b.identifier_type = edges.id_b_type
        and keys_b.identifier_value = edges.id_b
