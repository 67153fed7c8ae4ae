-- One row per order: web and app orders and store (POS) transactions together, as of as_of. Cancelled orders,
-- voided store transactions, test orders, orders of test accounts and orders of erased persons are left out
-- (see intermediate.int_orders_unioned.exclusion_reason). Refunded orders stay, with is_fully_refunded.
with orders as (
    select * from {{ ref('int_orders_unioned') }}
    where exclusion_reason is null
),

final as (
    select
        order_id,
        person_id,
        channel,
        store_id,
        status,
        currency,
        gross_amount,
        discount,
        shipping_fee,
        paid_amount,
        refunded_amount,
        net_amount,
        is_fully_refunded,
        n_returns,
        n_items,
        coupon_code,
        ordered_at,
        ordered_date
    from orders
)

select * from final
