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

-- Every rule's weight and rounded credit as columns of the touch row, so the per-order sums of the rounded credits
-- (the last touch's remainder) come from one window over the touches instead of one over touches x rules.
touch_weights as (
    select
        *,
        cast(case when touch_position = 1 then 1.0 else 0.0 end as double) as w_first_touch,
        cast(case when touch_position = n_touches then 1.0 else 0.0 end as double) as w_last_touch,
        cast(1.0 / n_touches as double) as w_linear,
        cast(
            case
                when n_touches = 1 then 1.0
                when n_touches = 2 then 0.5
                when touch_position in (1, n_touches) then 0.4
                else 0.2 / (n_touches - 2)
            end as double
        ) as w_position_based,
        cast(decay_weight as double) as w_time_decay
    from decayed
),

touch_credits as (
    select
        *,
        cast(round(revenue * w_first_touch, 2) as decimal(18, 2)) as r_first_touch,
        cast(round(revenue * w_last_touch, 2) as decimal(18, 2)) as r_last_touch,
        cast(round(revenue * w_linear, 2) as decimal(18, 2)) as r_linear,
        cast(round(revenue * w_position_based, 2) as decimal(18, 2)) as r_position_based,
        cast(round(revenue * w_time_decay, 2) as decimal(18, 2)) as r_time_decay
    from touch_weights
),

order_sums as (
    select
        *,
        sum(r_first_touch) over (partition by order_id) as s_first_touch,
        sum(r_last_touch) over (partition by order_id) as s_last_touch,
        sum(r_linear) over (partition by order_id) as s_linear,
        sum(r_position_based) over (partition by order_id) as s_position_based,
        sum(r_time_decay) over (partition by order_id) as s_time_decay
    from touch_credits
),

weighted as (
    select
        order_sums.order_id,
        order_sums.person_id,
        order_sums.ordered_at,
        order_sums.revenue,
        order_sums.touch_id,
        order_sums.touch_type,
        order_sums.channel,
        order_sums.campaign_id,
        order_sums.touched_at,
        order_sums.touch_position,
        order_sums.n_touches,
        rules.rule_name,
        case rules.rule_name
            when 'first_touch' then order_sums.w_first_touch
            when 'last_touch' then order_sums.w_last_touch
            when 'linear' then order_sums.w_linear
            when 'position_based' then order_sums.w_position_based
            else order_sums.w_time_decay
        end as weight,
        case rules.rule_name
            when 'first_touch' then order_sums.r_first_touch
            when 'last_touch' then order_sums.r_last_touch
            when 'linear' then order_sums.r_linear
            when 'position_based' then order_sums.r_position_based
            else order_sums.r_time_decay
        end as rounded_credit,
        case rules.rule_name
            when 'first_touch' then order_sums.s_first_touch
            when 'last_touch' then order_sums.s_last_touch
            when 'linear' then order_sums.s_linear
            when 'position_based' then order_sums.s_position_based
            else order_sums.s_time_decay
        end as rounded_sum
    from order_sums
    cross join rules
),

credited as (
    select
        *,
        case
            when touch_position = n_touches then revenue - (rounded_sum - rounded_credit)
            else rounded_credit
        end as credit
    from weighted
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
        cast(null as {{ text_type() }}) as campaign_id,
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
