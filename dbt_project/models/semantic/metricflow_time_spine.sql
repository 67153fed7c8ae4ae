{#- The day spine MetricFlow joins metrics to (metric_time, cumulative metrics, gaps filled with zero). It covers
    2015 to 2035 and, when the orders start earlier or end later (a long history), every order day too. -#}
{{ config(materialized='table') }}

with

bounds as (
    select
        least(cast('2015-01-01' as date), coalesce(min(ordered_date), cast('2015-01-01' as date))) as start_day,
        greatest(cast('2035-12-31' as date), coalesce(max(ordered_date), cast('2035-12-31' as date))) as end_day
    from {{ ref('orders') }}
),

days as (
    {{ date_spine('(select start_day from bounds)', '(select end_day from bounds)') }}
),

spine as (
    select cast(date_day as date) as date_day
    from days
)

select * from spine
