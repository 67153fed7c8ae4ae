-- A/B test and holdout report per campaign and variant (control included): people assigned, people contacted (in
-- the ledger), conversions = people with at least one order within conversion_window_days after assignment (up to
-- the reference time), revenue of those orders. Each variant is compared with its campaign's control: absolute lift
-- in conversion rate with a 95% confidence interval (normal approximation for the difference of two proportions),
-- relative lift, and the revenue-per-person difference with its own 95% interval.
with

assignments as (
    select * from {{ ref('campaign_assignments') }}
),

orders as (
    select
        person_id,
        order_id,
        ordered_at,
        net_amount
    from {{ ref('orders') }}
    where person_id is not null and ordered_at <= {{ as_of() }}
),

contacted as (
    select distinct
        person_id,
        campaign
    from {{ source('sync', 'contact_ledger') }}
    where sent_at <= {{ as_of() }}
),

outcomes as (
    select
        assignments.campaign,
        assignments.variant,
        assignments.person_id,
        count(orders.order_id) as orders,
        coalesce(sum(orders.net_amount), 0) as revenue
    from assignments
    left join orders
        on
            assignments.person_id = orders.person_id
            and assignments.assigned_at < orders.ordered_at
            and orders.ordered_at
            <= {{ dbt.dateadd('day', program_setting('conversion_window_days'), 'assignments.assigned_at') }}
    group by assignments.campaign, assignments.variant, assignments.person_id
),

per_variant as (
    select
        outcomes.campaign,
        outcomes.variant,
        count(*) as assigned,
        count(contacted.person_id) as contacted,
        cast(sum(case when outcomes.orders > 0 then 1 else 0 end) as bigint) as converted,
        cast(sum(outcomes.orders) as bigint) as orders,
        cast(sum(outcomes.revenue) as decimal(18, 2)) as revenue,
        avg(cast(outcomes.revenue as double)) as revenue_per_person,
        coalesce(var_samp(cast(outcomes.revenue as double)), 0) as revenue_variance
    from outcomes
    left join contacted on outcomes.person_id = contacted.person_id and outcomes.campaign = contacted.campaign
    group by outcomes.campaign, outcomes.variant
),

rates as (
    select
        *,
        1.0 * converted / assigned as conversion_rate
    from per_variant
),

compared as (
    select
        variant_rates.campaign,
        variant_rates.variant,
        variant_rates.variant = 'control' as is_control,
        variant_rates.assigned,
        variant_rates.contacted,
        variant_rates.converted,
        variant_rates.orders,
        variant_rates.revenue,
        variant_rates.conversion_rate,
        variant_rates.revenue_per_person,
        control_rates.assigned as control_assigned,
        control_rates.conversion_rate as control_conversion_rate,
        control_rates.revenue_per_person as control_revenue_per_person,
        variant_rates.conversion_rate - control_rates.conversion_rate as lift,
        sqrt(
            variant_rates.conversion_rate * (1 - variant_rates.conversion_rate) / variant_rates.assigned
            + control_rates.conversion_rate * (1 - control_rates.conversion_rate) / control_rates.assigned
        ) as lift_standard_error,
        variant_rates.revenue_per_person - control_rates.revenue_per_person as revenue_per_person_lift,
        sqrt(
            variant_rates.revenue_variance / variant_rates.assigned
            + control_rates.revenue_variance / control_rates.assigned
        ) as revenue_lift_standard_error
    from rates as variant_rates
    left join rates as control_rates
        on
            variant_rates.campaign = control_rates.campaign
            and control_rates.variant = 'control'
            and variant_rates.variant <> 'control'
),

final as (
    select
        campaign,
        variant,
        is_control,
        assigned,
        contacted,
        converted,
        orders,
        revenue,
        cast(round(conversion_rate, 6) as decimal(12, 6)) as conversion_rate,
        cast(round(revenue_per_person, 2) as decimal(18, 2)) as revenue_per_person,
        control_assigned,
        cast(round(control_conversion_rate, 6) as decimal(12, 6)) as control_conversion_rate,
        cast(round(lift, 6) as decimal(12, 6)) as lift,
        cast(round(lift - 1.96 * lift_standard_error, 6) as decimal(12, 6)) as lift_ci_low,
        cast(round(lift + 1.96 * lift_standard_error, 6) as decimal(12, 6)) as lift_ci_high,
        cast(round(case when control_conversion_rate > 0 then lift / control_conversion_rate end, 6) as decimal(18, 6))
            as relative_lift,
        coalesce(lift - 1.96 * lift_standard_error > 0 or lift + 1.96 * lift_standard_error < 0, false)
            as is_significant,
        cast(round(revenue_per_person_lift, 2) as decimal(18, 2)) as revenue_per_person_lift,
        cast(round(revenue_per_person_lift - 1.96 * revenue_lift_standard_error, 2) as decimal(18, 2))
            as revenue_lift_ci_low,
        cast(round(revenue_per_person_lift + 1.96 * revenue_lift_standard_error, 2) as decimal(18, 2))
            as revenue_lift_ci_high,
        {{ as_of() }} as reported_at
    from compared
)

select * from final
