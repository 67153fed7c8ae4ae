-- One row per loyalty member (marts.customers.is_loyalty_member): the tier reached under the marketer-edited
-- rules (seeds loyalty_tiers and loyalty_point_rules), points, the next tier and what is still missing.
with members as (
    select
        person_id,
        loyalty_card_id,
        loyalty_joined_at
    from {{ ref('customers') }}
    where is_loyalty_member
),

tiers as (
    select * from {{ ref('int_loyalty_tiers_qualified') }}
),

current_tier as (
    select
        person_id,
        max(tier_rank) as tier_rank
    from tiers
    where is_qualified
    group by person_id
),

next_rank as (
    select
        tiers.person_id,
        min(tiers.tier_rank) as tier_rank
    from tiers
    inner join current_tier on tiers.person_id = current_tier.person_id
    where tiers.tier_rank > current_tier.tier_rank
    group by tiers.person_id
),

spend_12m as (
    select
        person_id,
        cast(sum(net_amount) as decimal(18, 2)) as net_spend_365d,
        count(*) as purchases_365d
    from {{ ref('int_loyalty_purchases_windowed') }}
    where days_before_as_of < 365
    group by person_id
),

final as (
    select
        members.person_id,
        members.loyalty_card_id,
        members.loyalty_joined_at,
        reached.tier,
        reached.tier_rank,
        reached.points,
        coalesce(spend_12m.net_spend_365d, 0) as net_spend_365d,
        coalesce(spend_12m.purchases_365d, 0) as purchases_365d,
        upcoming.tier as next_tier,
        upcoming.missing_points,
        upcoming.missing_amount,
        upcoming.missing_purchases,
        upcoming.spend_in_window as next_tier_spend_in_window,
        upcoming.purchases_in_window as next_tier_purchases_in_window,
        -- Members at the top tier have nothing left to reach.
        cast(coalesce(upcoming.progress, 1.0) as double) as progress,
        {{ as_of() }} as as_of
    from members
    inner join current_tier on members.person_id = current_tier.person_id
    inner join tiers as reached
        on current_tier.person_id = reached.person_id and current_tier.tier_rank = reached.tier_rank
    left join next_rank on members.person_id = next_rank.person_id
    left join tiers as upcoming
        on next_rank.person_id = upcoming.person_id and next_rank.tier_rank = upcoming.tier_rank
    left join spend_12m on members.person_id = spend_12m.person_id
)

select * from final
