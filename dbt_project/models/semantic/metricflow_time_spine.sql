{#- The day spine MetricFlow joins metrics to (metric_time, cumulative metrics, gaps filled with zero). Covers
    the data the sample and any plausible warehouse holds; widen the range when history starts earlier. -#}
{{ config(materialized='table') }}

with

days as (
    {{ date_spine("'2015-01-01'", "'2035-12-31'") }}
),

spine as (
    select cast(date_day as date) as date_day
    from days
)

select * from spine
