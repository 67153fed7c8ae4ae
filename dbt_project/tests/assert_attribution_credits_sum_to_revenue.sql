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

models as (
    select distinct model from {{ ref('attribution_credits') }}
    union
    select 'first_touch' as model
    union
    select 'last_touch' as model
    union
    select 'linear' as model
    union
    select 'position_based' as model
    union
    select 'time_decay' as model
),

credited as (
    select
        order_id,
        model,
        sum(credit) as credited
    from {{ ref('attribution_credits') }}
    group by order_id, model
)

select
    orders.order_id,
    models.model,
    orders.revenue,
    credited.credited
from orders
cross join models
left join credited on orders.order_id = credited.order_id and models.model = credited.model
where credited.credited is null or credited.credited <> orders.revenue
