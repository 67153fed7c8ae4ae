-- Multi-touch attribution: each order's revenue (net_amount) is shared among the person's touches in the
-- attribution_lookback_days before it, under five rules: first_touch, last_touch, linear, position_based
-- (40% first, 40% last, 20% shared by the middle; 50/50 with two touches) and time_decay (a touch's weight halves
-- every attribution_half_life_days before the order). Credits are rounded to the cent and the last touch takes the
-- rounding remainder, so the credits of one order and rule sum exactly to its revenue. Orders without touches get
-- one 'unattributed' row per rule.
with

orders as (
    select
        order_id,
        person_id,
        ordered_at,
        cast(net_amount as decimal(18, 2)) as revenue
    from {{ ref('orders') }}
    where person_id is not null and ordered_at <= {{ as_of() }} and net_amount is not null
),

touches as (
    select * from {{ ref('attribution_touches') }}
),

windowed as (
    select
        orders.order_id,
        orders.person_id,
        orders.ordered_at,
        orders.revenue,
        touches.touch_id,
        touches.touch_type,
        touches.channel,
        touches.campaign_id,
        touches.touched_at,
        {{ hours_between('touches.touched_at', 'orders.ordered_at') }} as hours_before
    from orders
    inner join touches
        on
            orders.person_id = touches.person_id
            and orders.ordered_at >= touches.touched_at
            and touches.touched_at
            > {{ dbt.dateadd('day', '-1 * ' ~ program_setting('attribution_lookback_days'), 'orders.ordered_at') }}
),

positioned as (
    select
        *,
        row_number() over (partition by order_id order by touched_at, touch_id) as touch_position,
        count(*) over (partition by order_id) as n_touches,
        power(
            0.5,
            hours_before / (24.0 * {{ program_setting('attribution_half_life_days', 'double') }})
        ) as decay
    from windowed
),

decayed as (
    select
        *,
        decay / sum(decay) over (partition by order_id) as decay_weight
    from positioned
),

rules as (
    select rule_names.rule_name from (
        values ('first_touch'), ('last_touch'), ('linear'), ('position_based'), ('time_decay')
    ) as rule_names (rule_name)
),

weighted as (
    select
        decayed.order_id,
        decayed.person_id,
        decayed.ordered_at,
        decayed.revenue,
        decayed.touch_id,
        decayed.touch_type,
        decayed.channel,
        decayed.campaign_id,
        decayed.touched_at,
        decayed.touch_position,
        decayed.n_touches,
        rules.rule_name,
        cast(
            case rules.rule_name
                when 'first_touch' then case when decayed.touch_position = 1 then 1.0 else 0.0 end
                when 'last_touch' then case when decayed.touch_position = decayed.n_touches then 1.0 else 0.0 end
                when 'linear' then 1.0 / decayed.n_touches
                when 'position_based'
                    then
                        case
                            when decayed.n_touches = 1 then 1.0
                            when decayed.n_touches = 2 then 0.5
                            when decayed.touch_position in (1, decayed.n_touches) then 0.4
                            else 0.2 / (decayed.n_touches - 2)
                        end
                else decayed.decay_weight
            end as double
        ) as weight
    from decayed
    cross join rules
),

rounded as (
    select
        *,
        cast(round(revenue * weight, 2) as decimal(18, 2)) as rounded_credit
    from weighted
),

credited as (
    select
        *,
        case
            when touch_position = n_touches
                then revenue - (sum(rounded_credit) over (partition by order_id, rule_name) - rounded_credit)
            else rounded_credit
        end as credit
    from rounded
),

unattributed as (
    select
        orders.order_id,
        orders.person_id,
        orders.ordered_at,
        orders.revenue,
        'none' as touch_id,
        'none' as touch_type,
        'unattributed' as channel,
        cast(null as varchar) as campaign_id,
        cast(null as timestamp) as touched_at,
        1 as touch_position,
        0 as n_touches,
        rules.rule_name,
        1.0 as weight,
        orders.revenue as credit
    from orders
    cross join rules
    where not exists (
        select 1 from windowed
        where windowed.order_id = orders.order_id
    )
),

final as (
    select
        order_id,
        person_id,
        ordered_at,
        revenue,
        touch_id,
        touch_type,
        channel,
        campaign_id,
        touched_at,
        touch_position,
        n_touches,
        rule_name as model,  -- noqa: RF04
        weight,
        cast(credit as decimal(18, 2)) as credit
    from credited
    -- A touch with no weight under a rule carries no credit (the last touch stays: it holds the remainder).
    where weight > 0 or touch_position = n_touches
    union all
    select
        order_id,
        person_id,
        ordered_at,
        revenue,
        touch_id,
        touch_type,
        channel,
        campaign_id,
        touched_at,
        touch_position,
        n_touches,
        rule_name as model,  -- noqa: RF04
        weight,
        cast(credit as decimal(18, 2)) as credit
    from unattributed
)

select * from final
