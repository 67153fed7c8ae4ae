{#- One row per distinct normalized identifier: the nodes of the identity graph. -#}
{#- Incremental (docs/incremental.md), in proportion to the new data. The occurrences loaded since the last run
    split in two (macro identity_graph_batches):
    - records first loaded since then add their figures to the stored rows (min, max, count, sources);
    - records seen again may have carried other identifiers before: those identifiers, and the neighbours in the
      graph before the run of the ones they carry now (macro identity_graph_touched), are recomputed from every
      occurrence. One no record carries any more gets a tombstone row (n_records = 0) that replaces the stored
      one and the post-hook deletes. -#}
{{ config(
    materialized='incremental',
    unique_key=['identifier_type', 'identifier_value'],
    tags=['event_sized'],
    pre_hook="{{ identity_graph_join_hints(true) if is_incremental() }}",
    post_hook=[
        "{{ delete_where(this, 'n_records = 0') }}",
        "{{ identity_graph_join_hints(false) if is_incremental() }}",
    ],
) }}
{%- set incremental = is_incremental() -%}
{%- if incremental -%}
    {%- set batches = identity_graph_batches() -%}
    {#- The edges as they were before this run: int_identity_edges runs after this model (its depends_on). -#}
    {%- set edges_before = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='int_identity_edges') -%}
{%- endif -%}
{%- set node_figures -%}
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as n_records,
        {{ sorted_distinct_list('record_source') }} as sources,
        -- The watermark of the incremental runs: the latest load of a record carrying the identifier.
        max(_loaded_at) as _loaded_at
{%- endset %}
{%- set occurrences = ref('int_identifier_occurrences') %}
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
    where {{ batches.seen_again }}
),

-- Identifiers of the records seen again and their neighbours before the run, whatever the source linking them.
touched as (
    select distinct
        identifier_type,
        identifier_value
    from ({{ identity_graph_touched('seen_again', edges_before) }}) as touched_by_source
),

{% endif -%}
-- Every identifier in a full build; in an incremental run, the touched ones, from all their occurrences.
recomputed as (
    select
        identifier_type,
        identifier_value,
        {{ node_figures }}
    from {{ occurrences }}
    {%- if incremental %} as occurrences
    where exists (
        select 1 from touched
        where
            touched.identifier_type = occurrences.identifier_type
            and touched.identifier_value = occurrences.identifier_value
    )
    {%- endif %}
    group by identifier_type, identifier_value
),

{%- if incremental %}

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
            select 1 from recomputed
            where
                recomputed.identifier_type = stored.identifier_type
                and recomputed.identifier_value = stored.identifier_value
        )
),

-- The figures of the new records, for the identifiers not recomputed above.
added as (
    select
        identifier_type,
        identifier_value,
        {{ node_figures }}
    from {{ occurrences }} as occurrences
    where
        {{ batches.new }}
        and not exists (
            select 1 from touched
            where
                touched.identifier_type = occurrences.identifier_type
                and touched.identifier_value = occurrences.identifier_value
        )
    group by identifier_type, identifier_value
),

merged as (
    select
        added.identifier_type,
        added.identifier_value,
        -- least/greatest skip nulls: an identifier new to the graph keeps the new figures.
        least(stored.first_seen_at, added.first_seen_at) as first_seen_at,
        greatest(stored.last_seen_at, added.last_seen_at) as last_seen_at,
        coalesce(stored.n_records, 0) + added.n_records as n_records,
        case
            when stored.sources is null then added.sources
            else {{ merge_sorted_distinct_lists('stored.sources', 'added.sources') }}
        end as sources,
        greatest(stored._loaded_at, added._loaded_at) as _loaded_at
    -- The small side on the right, the build side of the hash join (identity_graph_join_hints).
    from {{ this }} as stored
    right join added
        on
            stored.identifier_type = added.identifier_type
            and stored.identifier_value = added.identifier_value
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
)

-- Every identifier has a key (int_identifier_keys runs first on the same occurrences); a missing one would show
-- as a null key, which a test catches. The graph rows on the right: the build side of the hash join.
select
    registry.identifier_key,
    graph_rows.*
from {{ ref('int_identifier_keys') }} as registry
right join graph_rows  -- noqa: CV08
    on
        registry.identifier_type = graph_rows.identifier_type
        and registry.identifier_value = graph_rows.identifier_value
