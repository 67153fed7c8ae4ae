{#- Distinct values of a text column, sorted and joined with a comma (e.g. 'crm,events,orders'). -#}
{% macro sorted_distinct_list(column) -%}
    {{ return(adapter.dispatch('sorted_distinct_list', 'sen')(column)) }}
{%- endmacro %}

{% macro default__sorted_distinct_list(column) -%}
    array_join(array_sort(collect_set({{ column }})), ',')
{%- endmacro %}

{% macro duckdb__sorted_distinct_list(column) -%}
    string_agg(distinct {{ column }}, ',' order by {{ column }})
{%- endmacro %}

{#- collect_set skips nulls like string_agg, but joins an empty set to '' where string_agg gives null. -#}
{% macro spark__sorted_distinct_list(column) -%}
    case when count({{ column }}) > 0 then array_join(array_sort(collect_set({{ column }})), ',') end
{%- endmacro %}
