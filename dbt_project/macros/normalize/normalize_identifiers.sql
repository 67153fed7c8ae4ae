{#- Identifier normalization. One implementation (Python, sen.normalize) behind SQL UDFs; the dbt-duckdb plugin
    sen.dbt_plugin registers them. Another engine needs the same three UDF names registered (for example Spark:
    pandas UDFs wrapping sen.normalize.normalize_series) or its own <adapter>__ macros. Rejected values -> null. -#}

{% macro normalize_email(column) -%}
    {{ return(adapter.dispatch('normalize_email', 'sen')(column)) }}
{%- endmacro %}

{% macro default__normalize_email(column) -%}
    sen_normalize_email(cast({{ column }} as {{ text_type() }}))
{%- endmacro %}

{% macro duckdb__normalize_email(column) -%}
    sen_normalize_email(cast({{ column }} as varchar))
{%- endmacro %}

{#- region: a SQL expression (a column, or a quoted literal such as "'US'"); default var('default_phone_region'). -#}
{% macro normalize_phone(column, region=none) -%}
    {%- set region_sql = region if region is not none else "'" ~ default_phone_region() ~ "'" -%}
    {{ return(adapter.dispatch('normalize_phone', 'sen')(column, region_sql)) }}
{%- endmacro %}

{% macro default__normalize_phone(column, region_sql) -%}
    sen_normalize_phone(cast({{ column }} as {{ text_type() }}), {{ region_sql }})
{%- endmacro %}

{% macro duckdb__normalize_phone(column, region_sql) -%}
    sen_normalize_phone(cast({{ column }} as varchar), {{ region_sql }})
{%- endmacro %}

{#- identifier_type: a type name known at compile time ('email', 'customer_id', ...). -#}
{% macro normalize_identifier(column, identifier_type) -%}
    {%- set known = identifier_types() -%}
    {%- if identifier_type not in known -%}
        {{ exceptions.raise_compiler_error("normalize_identifier: unknown identifier type '" ~ identifier_type
            ~ "'; expected one of " ~ known | join(', ')) }}
    {%- endif -%}
    {%- if identifier_type == 'email' -%}
        {{ return(normalize_email(column)) }}
    {%- elif identifier_type == 'phone' -%}
        {{ return(normalize_phone(column)) }}
    {%- endif -%}
    {{ return(adapter.dispatch('normalize_identifier', 'sen')(column, "'" ~ identifier_type ~ "'")) }}
{%- endmacro %}

{#- type_column: a SQL expression giving the identifier type per row (for unpivoted identifier lists). -#}
{% macro normalize_identifier_by_type(column, type_column, region=none) -%}
    case
        when {{ type_column }} = 'phone' then {{ normalize_phone(column, region) }}
        else {{ adapter.dispatch('normalize_identifier', 'sen')(column, type_column) }}
    end
{%- endmacro %}

{% macro default__normalize_identifier(column, type_sql) -%}
    sen_normalize_identifier(cast({{ column }} as {{ text_type() }}), {{ type_sql }})
{%- endmacro %}

{% macro duckdb__normalize_identifier(column, type_sql) -%}
    sen_normalize_identifier(cast({{ column }} as varchar), {{ type_sql }})
{%- endmacro %}
