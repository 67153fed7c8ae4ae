{#- The key registry of the identity graph: one stable integer key per normalized identifier ever seen. The graph
    (int_identity_nodes, int_identity_edges) carries these keys, so identity resolution reads and writes integers
    only, and its person map holds each identifier's strings once, here (docs/identity.md).
    A key never changes: this model only appends, and `full_refresh=false` keeps it through `--full-refresh` of the
    graph, so person assignments stored by key stay valid when the graph is rebuilt. New identifiers get the next
    keys in (type, value) order, so one input gives the same keys. Incremental: only the occurrences loaded since
    the last run (watermark `_loaded_at`) are scanned for identifiers not registered yet. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    tags=['event_sized'],
    pre_hook="{{ identity_graph_join_hints(true) if is_incremental() }}",
    post_hook="{{ identity_graph_join_hints(false) if is_incremental() }}",
) }}
{%- set incremental = is_incremental() -%}
{%- set cap = incremental_load_cap('_loaded_at') -%}
{%- set watermark = incremental_watermark('_loaded_at') if incremental else none -%}
with

loaded as (
    select
        identifier_type,
        identifier_value,
        max(_loaded_at) as _loaded_at
    from {{ ref('int_identifier_occurrences') }}
    where
        true
    {%- if watermark is not none %}
        and _loaded_at > {{ instant_literal(watermark) }}
    {%- endif %}
    {%- if cap is not none %}
        and {{ cap }}
    {%- endif %}
    group by identifier_type, identifier_value
),

-- In an incremental run, the identifiers of this load on the right: the build side of the hash join
-- (identity_graph_join_hints), so the registry is only probed, never hashed whole.
unregistered as (
    select
        loaded.identifier_type,
        loaded.identifier_value,
        loaded._loaded_at
    {%- if incremental %}
    from {{ this }} as registered
    right join loaded  -- noqa: CV08
        on
            registered.identifier_type = loaded.identifier_type
            and registered.identifier_value = loaded.identifier_value
    where registered.identifier_key is null
    {%- else %}
    from loaded  -- noqa: LT02
    {%- endif %}
)

{%- set first_key = '(select coalesce(max(identifier_key), 0) from ' ~ this ~ ')' if incremental else '0' %}

select
    identifier_type,
    identifier_value,
    {{ first_key }} + row_number() over (order by identifier_type, identifier_value) as identifier_key,
    _loaded_at
from unregistered
