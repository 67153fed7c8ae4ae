-- One row per line of a kept order (see marts.orders), with the product and category from the catalog. Returns
-- that name a SKU are matched to the first line of that SKU in the order; whole-order refunds stay on
-- marts.orders.
with orders as (
    select * from {{ ref('orders') }}
),

lines as (
    select * from {{ ref('int_order_lines_unioned') }}
),

products as (
    select * from {{ ref('stg_catalog__products') }}
),

sku_returns as (
    select
        order_id,
        sku,
        sum(coalesce(quantity, 0)) as returned_quantity,
        cast(sum(coalesce(refund_amount, 0)) as decimal(18, 2)) as refunded_amount
    from {{ ref('stg_shop__returns') }}
    where sku is not null and returned_at <= {{ as_of() }}
    group by order_id, sku
),

numbered as (
    select
        lines.*,
        row_number() over (partition by lines.order_id, lines.sku order by lines.line_number) as sku_line_rank
    from lines
    inner join orders on lines.order_id = orders.order_id
),

final as (
    select
        numbered.order_id || '-' || cast(numbered.line_number as {{ dbt.type_string() }}) as order_item_id,
        numbered.order_id,
        numbered.line_number,
        orders.person_id,
        orders.channel,
        numbered.sku,
        products.product_name,
        products.category,
        products.subcategory,
        products.brand,
        numbered.quantity,
        cast(numbered.unit_price * orders.exchange_rate as decimal(18, 2)) as unit_price,
        cast(numbered.line_amount * orders.exchange_rate as decimal(18, 2)) as line_amount,
        case when numbered.sku_line_rank = 1 then coalesce(sku_returns.returned_quantity, 0) else 0 end
            as returned_quantity,
        cast(
            case when numbered.sku_line_rank = 1 then coalesce(sku_returns.refunded_amount, 0) else 0 end
            * orders.exchange_rate as decimal(18, 2)
        ) as refunded_amount,
        orders.currency,
        orders.ordered_at,
        orders.ordered_date
    from numbered
    inner join orders on numbered.order_id = orders.order_id
    left join products on numbered.sku = products.sku
    left join sku_returns on numbered.order_id = sku_returns.order_id and numbered.sku = sku_returns.sku
)

select * from final
