{#- Generic tests on the event-sized models check the recent rows in a partitioned run (docs/incremental.md).

    dbt wraps the model a generic test reads in get_where_subquery (the `where` config). This override adds,
    for the models tagged event_sized and only when a partition window is given (the daily run, a backfill)
    and the run is not a full refresh, `_loaded_at >= <window start>`: the rows loaded since the start of the
    window, which include every row the run wrote. Older rows were tested by the runs that wrote them, and
    the unique key's delete+insert keeps new rows from duplicating them. Any other run (a full refresh,
    `dbt build` by hand) tests whole tables; other models are unaffected.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set recent = event_sized_recent_rows(relation) -%}
    {%- if recent -%}
        {%- set where = '(' ~ where ~ ') and ' ~ recent if where else recent -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The recent-rows condition for a test on `relation`, or '' (see above). -#}
{% macro event_sized_recent_rows(relation) -%}
    {%- set window = incremental_window() -%}
    {%- if window is none or flags.FULL_REFRESH or not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and 'event_sized' in node.tags
            and (node.alias or node.name) == relation.identifier and node.schema == relation.schema -%}
            {{ return("_loaded_at >= " ~ instant_literal(window[0])) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}
