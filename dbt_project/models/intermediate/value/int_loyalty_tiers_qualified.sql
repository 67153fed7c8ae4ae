-- Each loyalty member against each tier of the loyalty_tiers seed: what the member has, what the tier asks, what
-- is missing, and whether the member qualifies (every threshold met).
with members as (
    select person_id from {{ ref('customers') }}
    where is_loyalty_member
),

tiers as (
    select * from {{ ref('loyalty_tiers') }}
),

purchases as (
    select * from {{ ref('int_loyalty_purchases_windowed') }}
),

points as (
    select
        person_id,
        sum(points) as points
    from {{ ref('int_loyalty_points_computed') }}
    group by person_id
),

spend as (
    select
        members.person_id,
        tiers.tier,
        coalesce(sum(purchases.net_amount), 0) as spend_in_window
    from members
    cross join tiers
    left join purchases
        on
            members.person_id = purchases.person_id
            and (tiers.spend_window_days is null or tiers.spend_window_days > purchases.days_before_as_of)
    group by members.person_id, tiers.tier
),

purchase_counts as (
    select
        members.person_id,
        tiers.tier,
        count(purchases.order_id) as purchases_in_window
    from members
    cross join tiers
    left join purchases
        on
            members.person_id = purchases.person_id
            and (tiers.purchases_window_days is null or tiers.purchases_window_days > purchases.days_before_as_of)
    group by members.person_id, tiers.tier
),

measured as (
    select
        spend.person_id,
        tiers.tier,
        tiers.tier_rank,
        coalesce(points.points, 0) as points,
        cast(spend.spend_in_window as decimal(18, 2)) as spend_in_window,
        purchase_counts.purchases_in_window,
        tiers.min_points,
        tiers.min_spend,
        tiers.min_purchases
    from spend
    inner join tiers on spend.tier = tiers.tier
    inner join purchase_counts on spend.person_id = purchase_counts.person_id and spend.tier = purchase_counts.tier
    left join points on spend.person_id = points.person_id
),

qualified as (
    select
        *,
        greatest(min_points - points, 0) as missing_points,
        cast(greatest(min_spend - spend_in_window, 0) as decimal(18, 2)) as missing_amount,
        greatest(min_purchases - purchases_in_window, 0) as missing_purchases,
        points >= min_points and spend_in_window >= min_spend and purchases_in_window >= min_purchases
            as is_qualified,
        -- Progress towards the tier: mean over the thresholds it sets of have / need, each capped at 1.
        coalesce(
            (
                case when min_points > 0 then least(points / cast(min_points as double), 1.0) else 0 end
                + case when min_spend > 0 then least(spend_in_window / cast(min_spend as double), 1.0) else 0 end
                + case
                    when min_purchases > 0 then least(purchases_in_window / cast(min_purchases as double), 1.0)
                    else 0
                end
            ) / nullif(
                case when min_points > 0 then 1 else 0 end
                + case when min_spend > 0 then 1 else 0 end
                + case when min_purchases > 0 then 1 else 0 end,
                0
            ),
            1.0
        ) as progress
    from measured
)

select * from qualified
