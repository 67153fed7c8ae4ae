{#- The reference time of every time-relative computation, as a timestamp literal (UTC).
    Comes from var('as_of') (Dagster passes CDP_AS_OF), then the CDP_AS_OF environment variable,
    then the start time of the dbt run, so every model of one run shares one "now". -#}
{% macro as_of() -%}
    {%- set value = var('as_of', '') or env_var('CDP_AS_OF', '') -%}
    {%- if value -%}
        cast('{{ value | replace("T", " ") | replace("Z", "") }}' as timestamp)
    {%- else -%}
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
    {%- endif -%}
{%- endmacro %}
