{#- A JSON object text from (key, expression) pairs; '{}' when there are none. Keys are identifiers chosen by
    the generator (catalog column names), never user text. -#}
{% macro json_object_text(pairs) -%}
    {%- if pairs | length == 0 -%}
        '{}'
    {%- else -%}
        {{ return(adapter.dispatch('json_object_text', 'sen')(pairs)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__json_object_text(pairs) -%}
    to_json(named_struct({% for key, expr in pairs %}'{{ key }}', {{ expr }}{% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

{% macro duckdb__json_object_text(pairs) -%}
    cast(json_object({% for key, expr in pairs %}'{{ key }}', {{ expr }}{% if not loop.last %}, {% endif %}{% endfor %}) as varchar)
{%- endmacro %}

{#- Spark's to_json drops null fields unless told not to (DuckDB's json_object writes them as null), and writes
    timestamps as ISO text with a zone; DuckDB writes them as cast to text ('2026-11-20 11:27:19'). Same text
    for timestamps in whole seconds (orders, events); a fraction of a second is not written on Spark. -#}
{% macro spark__json_object_text(pairs) -%}
    to_json(named_struct({% for key, expr in pairs %}'{{ key }}', {{ expr }}{% if not loop.last %}, {% endif %}{% endfor %}), map('ignoreNullFields', 'false', 'timestampFormat', 'yyyy-MM-dd HH:mm:ss'))
{%- endmacro %}
