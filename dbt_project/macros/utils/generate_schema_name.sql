{#- Schemas are named exactly as configured (staging, marts, ...) rather than prefixed with the target schema,
    so BI tools and syncs read stable names such as marts.customers. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
