-- One row per order: web and app orders and store (POS) transactions together, as of as_of. Cancelled orders,
-- voided store transactions, test orders, orders of test accounts and orders of erased persons are left out
-- (see intermediate.int_orders_unioned.exclusion_reason). Refunded orders stay, with is_fully_refunded.
-- Amounts are in the reporting currency (var default_currency, CDP_CURRENCY): an order in another currency is
-- converted with seed currency_rates; one without a rate gets null amounts and fails the build
-- (tests/value/assert_order_currencies_have_rates.sql names the currency).
with orders as (
    select * from {{ ref('int_orders_unioned') }}
    where exclusion_reason is null
),

rates as (
    select
        upper(trim(currency)) as currency,
        rate
    from {{ ref('currency_rates') }}
),

converted as (
    select
        orders.*,
        case
            when orders.currency = '{{ var("default_currency") }}' then cast(1 as decimal(38, 10))
            else rates.rate
        end as exchange_rate
    from orders
    left join rates on orders.currency = rates.currency
),

final as (
    select
        order_id,
        person_id,
        channel,
        store_id,
        status,
        '{{ var("default_currency") }}' as currency,
        currency as original_currency,
        exchange_rate,
        cast(gross_amount * exchange_rate as decimal(18, 2)) as gross_amount,
        cast(discount * exchange_rate as decimal(18, 2)) as discount,
        cast(shipping_fee * exchange_rate as decimal(18, 2)) as shipping_fee,
        cast(paid_amount * exchange_rate as decimal(18, 2)) as paid_amount,
        cast(refunded_amount * exchange_rate as decimal(18, 2)) as refunded_amount,
        cast(net_amount * exchange_rate as decimal(18, 2)) as net_amount,
        is_fully_refunded,
        n_returns,
        n_items,
        coupon_code,
        ordered_at,
        ordered_date
    from converted
)

select * from final
