{#- Small text clean-ups shared by the staging models (plain SQL, portable as is). -#}

{#- Trimmed text, empty -> null. -#}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- Enumerations are compared lower-case. -#}
{% macro clean_enum(column) -%}
    lower(nullif(trim({{ column }}), ''))
{%- endmacro %}

{#- Codes compared upper-case (SKUs, coupon codes, country codes). -#}
{% macro clean_code(column) -%}
    upper(nullif(trim({{ column }}), ''))
{%- endmacro %}

{#- ISO currency code; amounts that arrive without one are in var('default_currency'). -#}
{% macro currency_code(column) -%}
    coalesce(upper(nullif(trim({{ column }}), '')), '{{ var("default_currency", "VND") }}')
{%- endmacro %}
