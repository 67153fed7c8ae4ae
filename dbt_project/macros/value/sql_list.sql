{#- A comma-separated list of SQL string literals (quotes doubled) for a list var, e.g. ('a', 'b''s'). -#}
{% macro sql_string_list(values) -%}
    {%- for value in values -%}
        '{{ value | string | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
