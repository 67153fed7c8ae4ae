{#- Fractional hours from start to end (timestamps). -#}
{% macro hours_between(start, end) -%}
    ({{ dbt.datediff(start, end, 'second') }} / 3600.0)
{%- endmacro %}
