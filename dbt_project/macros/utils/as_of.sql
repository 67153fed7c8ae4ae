{#- The reference time of every time-relative computation, as a timestamp literal in UTC.
    Comes from var('as_of') only (Dagster and the command line pass the run's reference time in --vars),
    else the start time of the dbt run, so every model of one run shares one "now". A value with an offset
    (2026-11-21T07:00:00+07:00, or Z) is converted to UTC; a value without one is UTC already. -#}
{% macro as_of() -%}
    {%- set value = (var('as_of', '') or '') | string | trim -%}
    {%- if value -%}
        {%- set iso = '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:\d{2})?$' -%}
        {%- if not modules.re.match(iso, value) -%}
            {{ exceptions.raise_compiler_error(
                "var as_of=" ~ value ~ " is not an ISO date or timestamp (e.g. 2026-11-20 or 2026-11-20T18:00:00Z)"
            ) }}
        {%- endif -%}
        {%- set parsed = modules.datetime.datetime.fromisoformat(value | replace('Z', '+00:00')) -%}
        {%- if parsed.tzinfo is not none -%}
            {%- set parsed = parsed.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
        {%- endif -%}
        {%- set fmt = "%Y-%m-%d %H:%M:%S.%f" if parsed.microsecond else "%Y-%m-%d %H:%M:%S" -%}
        cast('{{ parsed.strftime(fmt) }}' as timestamp)
    {%- else -%}
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
    {%- endif -%}
{%- endmacro %}
