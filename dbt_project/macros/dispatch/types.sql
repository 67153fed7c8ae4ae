{#- Portable casts from raw text. Each has a DuckDB implementation and a default for other engines. -#}

{% macro to_decimal(column, precision=18, scale=2) -%}
    {{ return(adapter.dispatch('to_decimal', 'sen')(column, precision, scale)) }}
{%- endmacro %}

{% macro default__to_decimal(column, precision, scale) -%}
    cast(trim({{ column }}) as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}

{% macro duckdb__to_decimal(column, precision, scale) -%}
    try_cast(trim({{ column }}) as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}

{% macro to_integer(column) -%}
    {{ return(adapter.dispatch('to_integer', 'sen')(column)) }}
{%- endmacro %}

{% macro default__to_integer(column) -%}
    cast(trim({{ column }}) as bigint)
{%- endmacro %}

{% macro duckdb__to_integer(column) -%}
    try_cast(trim({{ column }}) as bigint)
{%- endmacro %}

{% macro to_date(column) -%}
    {{ return(adapter.dispatch('to_date', 'sen')(column)) }}
{%- endmacro %}

{% macro default__to_date(column) -%}
    cast(trim({{ column }}) as date)
{%- endmacro %}

{% macro duckdb__to_date(column) -%}
    try_cast(trim({{ column }}) as date)
{%- endmacro %}

{#- true/false/t/f/1/0/yes/no/y/n, any case; anything else is null (unknown), never false. -#}
{% macro to_boolean(column) -%}
    case
        when lower(trim({{ column }})) in ('true', 't', '1', 'yes', 'y') then true
        when lower(trim({{ column }})) in ('false', 'f', '0', 'no', 'n') then false
    end
{%- endmacro %}

{#- Read a value out of a JSON text column by a dotted path, as text. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'sen')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    get_json_object({{ column }}, '$.{{ path }}')
{%- endmacro %}

{% macro duckdb__json_text(column, path) -%}
    json_extract_string({{ column }}, '$.{{ path }}')
{%- endmacro %}

{#- A stable hex hash of the concatenated expressions (surrogate keys, deterministic assignments). -#}
{% macro hash_key(columns) -%}
    {{ return(adapter.dispatch('hash_key', 'sen')(columns)) }}
{%- endmacro %}

{% macro default__hash_key(columns) -%}
    md5(concat_ws('||', {% for c in columns %}coalesce(cast({{ c }} as {{ text_type() }}), '~'){% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}
