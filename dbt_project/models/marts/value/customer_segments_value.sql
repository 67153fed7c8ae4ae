-- One row per person of marts.customer_value: RFM segment, predictive CLV, churn risk and CLV tier side by side,
-- and is_high_value_loyal, the high-value loyal group the marketing team targets (see doc high_value_loyal).
{%- set high_value_tiers = var('high_value_clv_tiers', ['top_1pct', 'top_10pct']) %}
{%- set loyal_segments = var('loyal_rfm_segments', ['Champions', 'Loyal']) %}
{%- set min_occasions = var('loyal_min_purchase_occasions', 2) %}
with customer_value as (
    select * from {{ ref('customer_value') }}
),

clv as (
    select * from {{ source('clv', 'customer_clv') }}
),

joined as (
    select
        customer_value.person_id,
        customer_value.orders,
        customer_value.purchase_occasions,
        customer_value.total_net_amount,
        customer_value.recency_days,
        customer_value.rfm_score,
        customer_value.rfm_segment,
        clv.clv,
        clv.expected_purchases_horizon,
        clv.p_alive,
        clv.frequency as clv_frequency,
        clv.clv_tier,
        clv.fallback_reason as clv_fallback_reason,
        -- People the last CLV run did not score (it ran on other data or another as_of) get the recency rule.
        coalesce(
            clv.churn_risk,
            case
                when customer_value.recency_days > 180 then 'high'
                when customer_value.recency_days > 90 then 'medium'
                else 'low'
            end
        ) as churn_risk,
        case
            when clv.person_id is null then 'recency_unscored'
            when clv.frequency = 0 then 'recency'
            else 'p_alive'
        end as churn_risk_basis
    from customer_value
    left join clv on customer_value.person_id = clv.person_id
),

final as (
    select
        *,
        coalesce(
            clv_tier in ({{ sql_string_list(high_value_tiers) }})
            and purchase_occasions >= {{ min_occasions }}
            and (churn_risk = 'low' or rfm_segment in ({{ sql_string_list(loyal_segments) }})),
            false
        ) as is_high_value_loyal
    from joined
)

select * from final
