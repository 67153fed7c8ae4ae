-- Consumables each person bought, with the time they should run out: the last purchase of the SKU plus its
-- replenishment interval (catalog replenishment_days) times the units bought (at most 3). Due = that time has
-- passed but not by more than one more interval (after that the person has likely switched).
with

products as (
    select
        sku,
        product_name,
        category,
        replenishment_days
    from {{ ref('stg_catalog__products') }}
    where is_consumable and replenishment_days > 0
),

purchases as (
    select
        items.person_id,
        items.sku,
        items.quantity,
        items.ordered_at
    from {{ ref('order_items') }} as items
    inner join products on items.sku = products.sku
    where items.ordered_at <= {{ as_of() }} and items.person_id is not null
),

last_purchase as (
    select
        person_id,
        sku,
        max(ordered_at) as last_bought_at,
        count(*) as times_bought
    from purchases
    group by person_id, sku
),

last_quantity as (
    select
        last_purchase.person_id,
        last_purchase.sku,
        sum(purchases.quantity) as last_quantity
    from last_purchase
    inner join purchases
        on
            last_purchase.person_id = purchases.person_id
            and last_purchase.sku = purchases.sku
            and last_purchase.last_bought_at = purchases.ordered_at
    group by last_purchase.person_id, last_purchase.sku
),

timed as (
    select
        last_purchase.person_id,
        last_purchase.sku,
        products.product_name,
        products.category,
        products.replenishment_days,
        last_purchase.last_bought_at,
        last_purchase.times_bought,
        last_quantity.last_quantity,
        {{ dbt.dateadd(
            'day',
            'products.replenishment_days * least(greatest(coalesce(last_quantity.last_quantity, 1), 1), 3)',
            'last_purchase.last_bought_at'
        ) }} as due_at
    from last_purchase
    inner join products on last_purchase.sku = products.sku
    left join last_quantity
        on last_purchase.person_id = last_quantity.person_id and last_purchase.sku = last_quantity.sku
),

flagged as (
    select
        *,
        cast({{ dbt.datediff('due_at', as_of(), 'day') }} as integer) as days_overdue,
        coalesce(
            due_at <= {{ as_of() }}
            and {{ dbt.dateadd('day', 'replenishment_days', 'due_at') }} > {{ as_of() }},
            false
        ) as is_due
    from timed
)

select * from flagged
