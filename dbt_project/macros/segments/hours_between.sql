{#- Fractional hours from start to end (timestamps), a double on every engine (Spark would keep a decimal). -#}
{% macro hours_between(start, end) -%}
    ({{ dbt.datediff(start, end, 'second') }} / cast(3600 as double))
{%- endmacro %}
