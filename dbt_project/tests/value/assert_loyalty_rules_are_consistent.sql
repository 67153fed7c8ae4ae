-- Fails when the marketer-edited loyalty seeds cannot be applied: a rule missing the amount or threshold its type
-- needs, a negative value, a non-positive window, an entry tier with thresholds, or tier ranks that are not 1..n.
with rules as (
    select * from {{ ref('loyalty_point_rules') }}
),

tiers as (
    select * from {{ ref('loyalty_tiers') }}
),

rule_problems as (
    select
        'loyalty_point_rules' as seed,
        rule_id as row_name,
        case
            when rule_type = 'spend_points' and coalesce(per_amount, 0) <= 0 then 'spend_points needs per_amount > 0'
            when rule_type in ('spend_bonus', 'purchase_bonus') and coalesce(threshold, 0) <= 0
                then rule_type || ' needs threshold > 0'
            when points < 0 then 'points must be >= 0'
            when window_days is not null and window_days <= 0 then 'window_days must be > 0 or empty'
        end as problem
    from rules
),

tier_count as (
    select count(*) as n_tiers from tiers
),

tier_problems as (
    select
        'loyalty_tiers' as seed,
        tiers.tier as row_name,
        case
            when tiers.min_points < 0 or tiers.min_spend < 0 or tiers.min_purchases < 0 then 'thresholds must be >= 0'
            when tiers.tier_rank = 1 and (tiers.min_points > 0 or tiers.min_spend > 0 or tiers.min_purchases > 0)
                then 'the entry tier (rank 1) must not have thresholds'
            when tiers.spend_window_days <= 0 or tiers.purchases_window_days <= 0 then 'windows must be > 0 or empty'
            when tiers.tier_rank < 1 or tiers.tier_rank > tier_count.n_tiers then 'tier_rank must run 1..number of tiers'
        end as problem
    from tiers
    cross join tier_count
),

problems as (
    select * from rule_problems
    union all
    select * from tier_problems
)

select * from problems
where problem is not null
