{#- A deterministic number in [0, 1) from the hash of the expressions (A/B assignment): the first 32 bits of
    hash_key's hex digest divided by 2^32. Same inputs, same bucket, on every run and engine. -#}
{% macro hash_bucket(columns) -%}
    {{ return(adapter.dispatch('hash_bucket', 'sen')(columns)) }}
{%- endmacro %}

{% macro default__hash_bucket(columns) -%}
    (cast(conv(substr({{ hash_key(columns) }}, 1, 8), 16, 10) as bigint) / 4294967296.0)
{%- endmacro %}

{% macro duckdb__hash_bucket(columns) -%}
    (cast(('0x' || substr({{ hash_key(columns) }}, 1, 8)) as ubigint) / 4294967296.0)
{%- endmacro %}

{#- Spark would divide into a decimal of 12 places; the bucket is a double on DuckDB. -#}
{% macro spark__hash_bucket(columns) -%}
    (cast(conv(substr({{ hash_key(columns) }}, 1, 8), 16, 10) as bigint) / cast(4294967296 as double))
{%- endmacro %}
