{#- dbt.dateadd on Spark. dbt-spark's goes through unix seconds and drops the fraction of a second (a cart's
    13:00:38.577 + 10 hours came out 23:00:38). timestampadd keeps microseconds and returns a timestamp for dates
    and timestamps alike, like DuckDB's `+ interval`. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart | upper }}, cast({{ interval }} as bigint), {{ from_date_or_timestamp }})
{%- endmacro %}
