-- One row per order: web and app orders and store (POS) transactions together, as of as_of. Cancelled orders,
-- voided store transactions, test orders, orders of test accounts and orders of erased persons are left out
-- (see intermediate.int_orders_unioned.exclusion_reason). Refunded orders stay, with is_fully_refunded.
-- Amounts are in the reporting currency (var default_currency, CDP_CURRENCY): an order in another currency is
-- converted with seed currency_rates; one without a rate stops the build with a message naming the currency.
with orders as (
    select * from {{ ref('int_orders_unioned') }}
    where exclusion_reason is null
),

stores as (
    select
        store_id,
        store_name,
        city as store_city
    from {{ ref('stg_catalog__stores') }}
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
            when rates.rate > 0 then rates.rate
            else cast({{ raise_error_value(
                "'marts.orders: orders in ' || orders.currency || ' have no positive rate to "
                ~ var('default_currency') ~ " in dbt_project/seeds/currency_rates.csv: add one, or set "
                ~ "CDP_CURRENCY to the shop''s currency'"
            ) }} as decimal(38, 10))
        end as exchange_rate
    from orders
    left join rates on orders.currency = rates.currency
),

final as (
    select
        converted.order_id,
        converted.person_id,
        converted.channel,
        converted.store_id,
        stores.store_name,
        stores.store_city,
        converted.status,
        '{{ var("default_currency") }}' as currency,
        converted.currency as original_currency,
        converted.exchange_rate,
        cast(converted.gross_amount * converted.exchange_rate as decimal(18, 2)) as gross_amount,
        cast(converted.discount * converted.exchange_rate as decimal(18, 2)) as discount,
        cast(converted.shipping_fee * converted.exchange_rate as decimal(18, 2)) as shipping_fee,
        cast(converted.paid_amount * converted.exchange_rate as decimal(18, 2)) as paid_amount,
        cast(converted.refunded_amount * converted.exchange_rate as decimal(18, 2)) as refunded_amount,
        cast(converted.net_amount * converted.exchange_rate as decimal(18, 2)) as net_amount,
        converted.is_fully_refunded,
        converted.n_returns,
        converted.n_items,
        converted.coupon_code,
        converted.ordered_at,
        converted.ordered_date
    from converted
    left join stores on converted.store_id = stores.store_id
)

select * from final
