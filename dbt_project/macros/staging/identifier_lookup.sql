{#- Normalized value of every distinct raw identifier of one column: select raw_value, normalized_value.
    Join it back on raw_value instead of calling the normalization UDF on every row: the UDF runs once per
    distinct value (DuckDB hands a Python UDF 2,048 rows at a time, so per-row calls pay the Python cost for
    nearly every row; a large events table repeats each anonymous id dozens of times). -#}
{% macro identifier_lookup(relation, column, identifier_type) -%}
    select
        distinct_values.raw_value,
        {{ normalize_identifier('distinct_values.raw_value', identifier_type) }} as normalized_value
    from (
        select distinct {{ column }} as raw_value
        from {{ relation }}
        where {{ column }} is not null
    ) as distinct_values
{%- endmacro %}

{#- Keyword that makes a CTE computed once when several later CTEs read it (DuckDB would otherwise inline it and
    re-run, e.g., the JSON parsing once per reader). Engines without the keyword get nothing. -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'sen')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}
{%- endmacro %}

{% macro duckdb__materialized_cte() -%}
    materialized
{%- endmacro %}
