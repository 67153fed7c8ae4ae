{#- Stop a query with a message instead of letting it give a silent wrong answer (a segment whose parameters are
    not in the seed would have 0 members; an order in a currency without a rate would be summed as if in the
    reporting currency). DuckDB: error(); Spark: raise_error(). -#}

{#- An expression of no value that fails the query with the text of SQL expression `message_sql`. -#}
{% macro raise_error_value(message_sql) -%}
    {{ return(adapter.dispatch('raise_error_value', 'sen')(message_sql)) }}
{%- endmacro %}

{% macro default__raise_error_value(message_sql) -%}
    raise_error({{ message_sql }})
{%- endmacro %}

{% macro duckdb__raise_error_value(message_sql) -%}
    error({{ message_sql }})
{%- endmacro %}

{#- True when `condition` holds; otherwise the query fails with the literal `message`. -#}
{% macro fail_unless(condition, message) -%}
    case when {{ condition }} then true else {{ raise_error_value("'" ~ (message | replace("'", "''")) ~ "'") }} end
{%- endmacro %}
