{#- The business calendar of the customer-value models. Same-day orders form one purchase occasion, and
    "days since" counts calendar days, both in var('business_timezone') (default Asia/Ho_Chi_Minh, the zone the
    CLV assets use too). Timestamps in the warehouse are naive UTC. -#}
{% macro business_timezone() -%}
    {{ return(var('business_timezone', 'Asia/Ho_Chi_Minh')) }}
{%- endmacro %}

{#- The calendar date, in the business time zone, of a naive UTC timestamp. -#}
{% macro local_date(column) -%}
    {{ return(adapter.dispatch('local_date', 'sen')(column, business_timezone())) }}
{%- endmacro %}

{% macro default__local_date(column, timezone) -%}
    cast(from_utc_timestamp({{ column }}, '{{ timezone }}') as date)
{%- endmacro %}

{% macro duckdb__local_date(column, timezone) -%}
    cast(timezone('{{ timezone }}', timezone('UTC', {{ column }})) as date)
{%- endmacro %}

{#- Whole calendar days from one local date to another (later minus earlier). -#}
{% macro days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') }}
{%- endmacro %}
