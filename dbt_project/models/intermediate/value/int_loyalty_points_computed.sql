-- Points each loyalty member earns under each rule of the loyalty_point_rules seed, as of as_of.
-- One row per (member, rule): the measure the rule looks at and the points it gives.
with members as (
    select person_id from {{ ref('customers') }}
    where is_loyalty_member
),

rules as (
    select * from {{ ref('loyalty_point_rules') }}
),

purchases as (
    select * from {{ ref('int_loyalty_purchases_windowed') }}
),

referred_first_purchases as (
    select
        customers.referred_by_person_id as person_id,
        customer_value.first_order_at,
        {{ dbt.datediff('customer_value.first_order_at', as_of(), 'second') }} / cast(86400 as double) as days_before_as_of
    from {{ ref('customers') }} as customers
    inner join {{ ref('customer_value') }} as customer_value on customers.person_id = customer_value.person_id
    where customers.referred_by_person_id is not null
),

purchase_measures as (
    select
        members.person_id,
        rules.rule_id,
        count(purchases.order_id) as purchases,
        coalesce(sum(purchases.net_amount), 0) as net_spend
    from members
    cross join rules
    left join purchases
        on
            members.person_id = purchases.person_id
            and (rules.channel is null or rules.channel = purchases.channel)
            and (rules.window_days is null or rules.window_days > purchases.days_before_as_of)
    where rules.rule_type != 'referral_points'
    group by members.person_id, rules.rule_id
),

referral_measures as (
    select
        members.person_id,
        rules.rule_id,
        count(referred_first_purchases.person_id) as referrals
    from members
    cross join rules
    left join referred_first_purchases
        on
            members.person_id = referred_first_purchases.person_id
            and (rules.window_days is null or rules.window_days > referred_first_purchases.days_before_as_of)
    where rules.rule_type = 'referral_points'
    group by members.person_id, rules.rule_id
),

measures as (
    select
        person_id,
        rule_id,
        purchases,
        net_spend,
        0 as referrals
    from purchase_measures
    union all
    select
        person_id,
        rule_id,
        0 as purchases,
        0 as net_spend,
        referrals
    from referral_measures
),

points as (
    select
        measures.person_id,
        rules.rule_id,
        rules.rule_type,
        measures.purchases,
        cast(measures.net_spend as decimal(18, 2)) as net_spend,
        measures.referrals,
        cast(
            case rules.rule_type
                when 'spend_points' then floor(measures.net_spend / rules.per_amount) * rules.points
                when 'spend_bonus' then case when measures.net_spend >= rules.threshold then rules.points else 0 end
                when 'purchase_points' then measures.purchases * rules.points
                when 'purchase_bonus' then case when measures.purchases >= rules.threshold then rules.points else 0 end
                when 'referral_points' then measures.referrals * rules.points
                else 0
            end as integer
        ) as points
    from measures
    inner join rules on measures.rule_id = rules.rule_id
)

select * from points
