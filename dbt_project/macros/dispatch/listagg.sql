{#- dbt.listagg on Spark. dbt-spark's ignores the order_by_clause (collect_list's order is whatever the shuffle
    gives), so best_channel's fallback list would come out in any order. This one sorts by the clause's one
    expression (ascending, as `order by <expression>` on DuckDB; nulls last like DuckDB) before joining. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if order_by_clause -%}
        {%- set key = order_by_clause | trim -%}
        {%- if key[:8] | lower != 'order by' -%}
            {{ exceptions.raise_compiler_error("listagg on Spark: expected 'order by <expression>', got " ~ order_by_clause) }}
        {%- endif -%}
        {%- set key = key[8:] | trim -%}
        {%- if ',' in key or key.split() | length > 1 -%}
            {{ exceptions.raise_compiler_error("listagg on Spark sorts by one ascending expression, got " ~ order_by_clause) }}
        {%- endif -%}
        {%- set collected -%}
            transform(
                array_sort(
                    collect_list(struct({{ key }} is null as k0, {{ key }} as k1, {{ measure }} as v)),
                    (a, b) -> case when a.k0 < b.k0 then -1 when a.k0 > b.k0 then 1
                        when a.k1 < b.k1 then -1 when a.k1 > b.k1 then 1 else 0 end
                ),
                x -> x.v
            )
        {%- endset -%}
    {%- else -%}
        {%- set collected = 'collect_list(' ~ measure ~ ')' -%}
    {%- endif -%}
    {%- if limit_num -%}
        {%- set collected = 'slice(' ~ collected ~ ', 1, ' ~ limit_num ~ ')' -%}
    {%- endif -%}
    array_join({{ collected }}, {{ delimiter_text }})
{%- endmacro %}
