{#- Parse a JSON text column once into a struct of text fields, one per dotted path (e.g. ['device.id',
    'page.url', 'userAgent']); read them as <alias>.device.id. Much cheaper than one json_text() per field on
    wide documents such as Segment's context. Missing or mistyped fields are null; numbers come back as text,
    objects as JSON text. -#}
{% macro json_struct(column, paths) -%}
    {%- set tree = {} -%}
    {%- for path in paths -%}
        {%- set parts = path.split('.') -%}
        {%- set node = namespace(level=tree) -%}
        {%- for part in parts[:-1] -%}
            {%- if part not in node.level -%}{%- do node.level.update({part: {}}) -%}{%- endif -%}
            {%- set node.level = node.level[part] -%}
        {%- endfor -%}
        {%- do node.level.update({parts[-1]: 'VARCHAR'}) -%}
    {%- endfor -%}
    {{ return(adapter.dispatch('json_struct', 'sen')(column, tree)) }}
{%- endmacro %}

{#- Spark / Databricks: from_json with a DDL struct schema. -#}
{% macro default__json_struct(column, tree) -%}
    from_json({{ column }}, '{{ _json_struct_ddl(tree) }}')
{%- endmacro %}

{% macro _json_struct_ddl(tree) -%}
    struct<
    {%- for key, value in tree.items() -%}
        `{{ key }}`:{% if value is mapping %}{{ _json_struct_ddl(value) }}{% else %}string{% endif %}
        {%- if not loop.last %},{% endif -%}
    {%- endfor -%}
    >
{%- endmacro %}

{% macro duckdb__json_struct(column, tree) -%}
    json_transform({{ column }}, '{{ tojson(tree) }}')
{%- endmacro %}
