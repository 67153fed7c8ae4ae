{#- The CLV scores written by the Python CLV asset (marts.customer_clv), as a dbt model so that MetricFlow can
    define metrics on it. scored_at is the reference time of the run (CLV is computed as of it). -#}
with

scores as (
    select * from {{ source('clv', 'customer_clv') }}
),

dated as (
    select
        person_id,
        clv,
        expected_purchases_12m,
        expected_avg_value,
        p_alive,
        churn_risk,
        clv_tier,
        fallback_reason,
        {{ as_of() }} as scored_at
    from scores
)

select * from dated
