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
