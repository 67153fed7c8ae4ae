{#- Parse a text timestamp to a naive UTC timestamp. Values with an explicit offset (Z, +07:00) keep their
    instant; naive values are read in the source's time zone. Unparseable values become null (the loader has
    already quarantined them). -#}
{% macro parse_timestamp_utc(column, source_timezone='UTC') -%}
    {{ return(adapter.dispatch('parse_timestamp_utc', 'sen')(column, source_timezone)) }}
{%- endmacro %}

{% macro default__parse_timestamp_utc(column, source_timezone) -%}
    case
        when regexp_like(trim({{ column }}), '\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?\\s*(Z|z|[+-]\\d{2}(:?\\d{2})?)$')
            then to_utc_timestamp(cast(trim({{ column }}) as timestamp), 'UTC')
        else to_utc_timestamp(cast(trim({{ column }}) as timestamp), '{{ source_timezone }}')
    end
{%- endmacro %}

{% macro duckdb__parse_timestamp_utc(column, source_timezone) -%}
    case
        when regexp_matches(trim({{ column }}), '\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)$')
            then timezone('UTC', try_cast(trim({{ column }}) as timestamptz))
        else timezone('UTC', timezone('{{ source_timezone }}', try_cast(trim({{ column }}) as timestamp)))
    end
{%- endmacro %}

{#- SQL of the instant written in `text` (an ISO timestamp, UTC unless it carries an offset), comparable with
    the load-time column _loaded_at: timestamptz on DuckDB, timestamp (an instant) on Spark. -#}
{% macro instant_literal(text) -%}
    {{ return(adapter.dispatch('instant_literal', 'sen')(text)) }}
{%- endmacro %}

{% macro default__instant_literal(text) -%}
    {{ return("cast('" ~ text ~ "' as timestamp with time zone)") }}
{%- endmacro %}

{% macro spark__instant_literal(text) -%}
    {{ return("cast('" ~ text ~ "' as timestamp)") }}
{%- endmacro %}
