-- Order lines of web/app orders and of store (POS) transactions in one shape. Voided store lines are dropped.
with shop_lines as (
    select * from {{ ref('stg_shop__order_lines') }}
),

pos_lines as (
    select * from {{ ref('stg_pos__transaction_lines') }}
),

unioned as (
    select
        order_id,
        line_number,
        sku,
        quantity,
        unit_price,
        cast(line_total as decimal(18, 2)) as line_amount
    from shop_lines
    union all
    select
        transaction_id as order_id,
        line_number,
        sku,
        quantity,
        unit_price,
        cast(line_total as decimal(18, 2)) as line_amount
    from pos_lines
    where status = 'completed'
)

select * from unioned
