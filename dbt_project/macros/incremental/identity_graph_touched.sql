{#- Shared by the incremental identity graph models (int_identity_nodes, int_identity_edges; docs/incremental.md). -#}

{#- The identifiers a run recomputes, per record source: those of the records in `batch` (a CTE of
    record_source, identifier_type, identifier_value) and their neighbours in `edges`, the edges as stored before
    the run (a record seen again with a new email still carries its customer id, linked to the old email).
    `edges` none (no edges table yet) means the batch alone. -#}
{% macro identity_graph_touched(batch, edges) -%}
    select
        record_source,
        identifier_type,
        identifier_value
    from {{ batch }}
    {%- if edges is not none %}
    union
    select
        edges.source as record_source,
        edges.id_b_type as identifier_type,
        edges.id_b as identifier_value
    from {{ edges }} as edges
    where exists (
        select 1 from {{ batch }} as batch
        where
            batch.record_source = edges.source
            and batch.identifier_type = edges.id_a_type
            and batch.identifier_value = edges.id_a
    )
    union
    select
        edges.source as record_source,
        edges.id_a_type as identifier_type,
        edges.id_a as identifier_value
    from {{ edges }} as edges
    where exists (
        select 1 from {{ batch }} as batch
        where
            batch.record_source = edges.source
            and batch.identifier_type = edges.id_b_type
            and batch.identifier_value = edges.id_b
    )
    {%- endif %}
{%- endmacro %}

{#- True when end `end` ('a' or 'b') of the edge row `edge` (columns source, id_a_type, id_a, id_b_type, id_b)
    is in `touched`. -#}
{% macro identity_edge_end_touched(edge, end, touched='touched') -%}
    exists (
        select 1 from {{ touched }}
        where
            {{ touched }}.record_source = {{ edge }}.source
            and {{ touched }}.identifier_type = {{ edge }}.id_{{ end }}_type
            and {{ touched }}.identifier_value = {{ edge }}.id_{{ end }}
    )
{%- endmacro %}

{#- True when the edge row `edge` has an end in `touched`. -#}
{% macro identity_edge_touched(edge, touched='touched') -%}
    ({{ identity_edge_end_touched(edge, 'a', touched) }} or {{ identity_edge_end_touched(edge, 'b', touched) }})
{%- endmacro %}

{#- How an incremental run of the identity graph splits the occurrences loaded since its last run (watermark:
    the latest `_loaded_at` the model holds), as SQL conditions on int_identifier_occurrences:
    - `new`: records first loaded since then. The graph has never seen them: their figures add to the stored
      ones (min, max, count, sources), which costs in proportion to the new data;
    - `seen_again`: records loaded before and again since then (a re-exported contact, an SDK retry). Their old
      version is in the stored figures and may have carried other identifiers: the identifiers they touch are
      recomputed from all occurrences.
    The partition window plays no part: records recomputed in the window without a new load are the same
    records (a change of identity logic needs a full refresh of the graph, docs/incremental.md). -#}
{% macro identity_graph_batches() -%}
    {%- set cap = incremental_load_cap('_loaded_at') -%}
    {%- set capped = (' and ' ~ cap) if cap is not none else '' -%}
    {%- set watermark = incremental_watermark('_loaded_at') -%}
    {%- if watermark is none -%}
        {{ return({'new': 'true' ~ capped, 'seen_again': 'false'}) }}
    {%- endif -%}
    {%- set since = instant_literal(watermark) -%}
    {{ return({
        'new': '_first_loaded_at > ' ~ since ~ capped,
        'seen_again': '_loaded_at > ' ~ since ~ ' and _first_loaded_at <= ' ~ since ~ capped,
    }) }}
{%- endmacro %}

{#- Two comma-joined sorted distinct lists (sorted_distinct_list) merged into one. -#}
{% macro merge_sorted_distinct_lists(left, right) -%}
    {{ return(adapter.dispatch('merge_sorted_distinct_lists', 'sen')(left, right)) }}
{%- endmacro %}

{% macro default__merge_sorted_distinct_lists(left, right) -%}
    array_join(array_sort(array_distinct(concat(split({{ left }}, ','), split({{ right }}, ',')))), ',')
{%- endmacro %}

{% macro duckdb__merge_sorted_distinct_lists(left, right) -%}
    array_to_string(list_sort(list_distinct(list_concat(string_split({{ left }}, ','), string_split({{ right }}, ',')))), ',')
{%- endmacro %}

{#- Hooks around an incremental run of the identity graph. The run joins small sets (the new records, the
    touched identifiers: thousands of rows) with tables of ~100M rows, and every query is written with the small
    set on the build side (the right side of a join, the subquery of an exists). DuckDB's estimates for
    load-time filters are far off (millions of rows for a few hundred) and its build/probe optimizer then
    builds hash tables on the 100M-row side: at 50M events a daily run of the edges took 52 s instead of 11 s.
    On DuckDB the hook turns that one optimizer off for the model and back on after it; other engines keep
    their planner. -#}
{% macro identity_graph_join_hints(enable) -%}
    {{ return(adapter.dispatch('identity_graph_join_hints', 'sen')(enable)) }}
{%- endmacro %}

{% macro default__identity_graph_join_hints(enable) -%}
{%- endmacro %}

{% macro duckdb__identity_graph_join_hints(enable) -%}
    {%- if enable -%}
        set disabled_optimizers = 'build_side_probe_side'
    {%- else -%}
        reset disabled_optimizers
    {%- endif -%}
{%- endmacro %}
