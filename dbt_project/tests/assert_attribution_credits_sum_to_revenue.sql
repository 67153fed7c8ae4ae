-- Fails when, for some order and attribution model, the credits do not add up exactly to the order's revenue, or
-- an order of marts.orders (with a person, at or before the reference time) has no credits under some model.
with

orders as (
    select
        order_id,
        cast(net_amount as decimal(18, 2)) as revenue
    from {{ ref('orders') }}
    where person_id is not null and ordered_at <= {{ as_of() }} and net_amount is not null
),

rules as (
    select rule_names.rule_name from (
        values ('first_touch'), ('last_touch'), ('linear'), ('position_based'), ('time_decay')
    ) as rule_names (rule_name)
),

credited as (
    select
        order_id,
        model as rule_name,
        sum(credit) as credited
    from {{ ref('attribution_credits') }}
    group by order_id, model
)

select
    orders.order_id,
    rules.rule_name,
    orders.revenue,
    credited.credited
from orders
cross join rules
left join credited on orders.order_id = credited.order_id and rules.rule_name = credited.rule_name
where credited.credited is null or credited.credited <> orders.revenue
