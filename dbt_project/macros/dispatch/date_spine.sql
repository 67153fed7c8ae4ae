{#- One row per day from start_date to end_date inclusive, column `day` (date). -#}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'sen')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine(start_date, end_date) -%}
    select explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date_day
{%- endmacro %}

{% macro duckdb__date_spine(start_date, end_date) -%}
    select cast(generate_series as date) as date_day
    from generate_series(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)
{%- endmacro %}
