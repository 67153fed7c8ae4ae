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

{#- True when the edge row `edge` (columns source, id_a_type, id_a, id_b_type, id_b) has an end in `touched`. -#}
{% macro identity_edge_touched(edge, touched='touched') -%}
    (
        exists (
            select 1 from {{ touched }}
            where
                {{ touched }}.record_source = {{ edge }}.source
                and {{ touched }}.identifier_type = {{ edge }}.id_a_type
                and {{ touched }}.identifier_value = {{ edge }}.id_a
        )
        or exists (
            select 1 from {{ touched }}
            where
                {{ touched }}.record_source = {{ edge }}.source
                and {{ touched }}.identifier_type = {{ edge }}.id_b_type
                and {{ touched }}.identifier_value = {{ edge }}.id_b
        )
    )
{%- endmacro %}
