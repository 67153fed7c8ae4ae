{#- The SQL type of text in casts: varchar on DuckDB; Spark wants `string` (its varchar needs a length). -#}
{% macro text_type() -%}
    {{ return(adapter.dispatch('text_type', 'sen')()) }}
{%- endmacro %}

{% macro default__text_type() -%}
    {{ return('varchar') }}
{%- endmacro %}

{% macro spark__text_type() -%}
    {{ return('string') }}
{%- endmacro %}
