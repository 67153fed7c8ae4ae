-- Returns and refunds per order (e-commerce order id or store transaction id), as known at as_of.
with returns as (
    select * from {{ ref('stg_shop__returns') }}
    where returned_at <= {{ as_of() }}
),

per_order as (
    select
        order_id,
        count(*) as n_returns,
        cast(sum(coalesce(refund_amount, 0)) as decimal(18, 2)) as refund_amount,
        max(returned_at) as last_returned_at
    from returns
    group by order_id
)

select * from per_order
