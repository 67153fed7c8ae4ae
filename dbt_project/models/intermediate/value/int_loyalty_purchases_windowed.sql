-- Purchases that count for loyalty: each loyalty member's orders not refunded in full, at or before as_of and,
-- unless var('loyalty_count_orders_before_joining') is true, on or after the day the member joined.
with members as (
    select
        person_id,
        loyalty_joined_at
    from {{ ref('customers') }}
    where is_loyalty_member
),

orders as (
    select * from {{ ref('orders') }}
    where person_id is not null and not is_fully_refunded
),

purchases as (
    select
        orders.person_id,
        orders.order_id,
        orders.channel,
        orders.net_amount,
        orders.ordered_at,
        -- Days before as_of, so a rule's window of N days keeps the purchases with days_before_as_of < N.
        {{ dbt.datediff('orders.ordered_at', as_of(), 'second') }} / cast(86400 as double) as days_before_as_of
    from orders
    inner join members on orders.person_id = members.person_id
    where
        {{ var('loyalty_count_orders_before_joining', false) }}
        or members.loyalty_joined_at is null
        or orders.ordered_date >= cast(members.loyalty_joined_at as date)
)

select * from purchases
