-- Items of each person's latest cart when that cart was abandoned (no order after its last activity), with the
-- urgency flags: low in stock, or cheaper now than when it was carted. Only carts active within the lookback
-- (campaigns.yml settings.cart_lookback_hours) before the reference time are considered.
with

cart_events as (
    select
        person_id,
        cart_id,
        event_name,
        sku,
        category,
        coalesce(quantity, 1) as quantity,
        price,
        occurred_at,
        event_id
    from {{ ref('person_events') }}
    where
        cart_id is not null
        and event_name in ('product_added', 'product_removed', 'cart_viewed', 'checkout_started')
        and occurred_at <= {{ as_of() }}
        and occurred_at > {{ dbt.dateadd('hour', '-1 * ' ~ program_setting('cart_lookback_hours'), as_of()) }}
),

carts as (
    select
        person_id,
        cart_id,
        min(occurred_at) as started_at,
        max(occurred_at) as last_activity_at
    from cart_events
    group by person_id, cart_id
),

latest_carts as (
    select
        *,
        row_number() over (partition by person_id order by last_activity_at desc, cart_id asc) as cart_rank
    from carts
),

-- An order by the person at or after the cart's last activity means the cart was bought, not abandoned (order
-- feeds and the order_completed event both count, whichever arrives first).
purchases as (
    select
        person_id,
        ordered_at as purchased_at
    from {{ ref('orders') }}
    where ordered_at <= {{ as_of() }}
    union all
    select
        person_id,
        occurred_at as purchased_at
    from {{ ref('person_events') }}
    where
        event_name = 'order_completed'
        and occurred_at <= {{ as_of() }}
        and occurred_at > {{ dbt.dateadd('hour', '-1 * ' ~ program_setting('cart_lookback_hours'), as_of()) }}
),

abandoned as (
    select latest_carts.*
    from latest_carts
    where
        latest_carts.cart_rank = 1
        and not exists (
            select 1
            from purchases
            where
                purchases.person_id = latest_carts.person_id
                and purchases.purchased_at >= latest_carts.last_activity_at
        )
),

line_events as (
    select cart_events.*
    from cart_events
    inner join abandoned
        on cart_events.person_id = abandoned.person_id and cart_events.cart_id = abandoned.cart_id
    where
        cart_events.sku is not null
        and cart_events.event_name in ('product_added', 'product_removed')
),

last_adds as (
    select
        person_id,
        cart_id,
        sku,
        price as price_at_add,
        occurred_at as added_at,
        row_number() over (partition by person_id, cart_id, sku order by occurred_at desc, event_id desc) as add_rank
    from line_events
    where event_name = 'product_added'
),

quantities as (
    select
        person_id,
        cart_id,
        sku,
        max(category) as category,
        sum(case when event_name = 'product_added' then quantity else -quantity end) as quantity
    from line_events
    group by person_id, cart_id, sku
),

products as (
    select * from {{ ref('stg_catalog__products') }}
),

-- The price in effect at the reference time: the latest change at or before it, else the old price of the first
-- change after it, else the catalog price.
price_changes as (
    select
        sku,
        old_price,
        new_price,
        changed_at
    from {{ ref('stg_catalog__product_price_changes') }}
),

price_before as (
    select
        sku,
        new_price
    from (
        select
            sku,
            new_price,
            row_number() over (partition by sku order by changed_at desc) as change_rank
        from price_changes
        where changed_at <= {{ as_of() }}
    ) as ranked
    where change_rank = 1
),

price_after as (
    select
        sku,
        old_price
    from (
        select
            sku,
            old_price,
            row_number() over (partition by sku order by changed_at) as change_rank
        from price_changes
        where changed_at > {{ as_of() }}
    ) as ranked
    where change_rank = 1
),

items as (
    select
        quantities.person_id,
        quantities.cart_id,
        abandoned.last_activity_at,
        quantities.sku,
        coalesce(products.category, quantities.category) as category,
        products.product_name,
        quantities.quantity,
        last_adds.added_at,
        last_adds.price_at_add,
        coalesce(price_before.new_price, price_after.old_price, products.price) as current_price,
        products.stock_level
    from quantities
    inner join last_adds
        on
            quantities.person_id = last_adds.person_id
            and quantities.cart_id = last_adds.cart_id
            and quantities.sku = last_adds.sku
            and last_adds.add_rank = 1
    inner join abandoned on quantities.person_id = abandoned.person_id
    left join products on quantities.sku = products.sku
    left join price_before on quantities.sku = price_before.sku
    left join price_after on quantities.sku = price_after.sku
    where quantities.quantity > 0
),

flagged as (
    select
        *,
        coalesce(stock_level between 1 and {{ program_setting('low_stock_threshold') }}, false) as is_low_stock,
        coalesce(current_price < price_at_add, false) as has_price_drop,
        cast(quantity * coalesce(price_at_add, current_price, 0) as decimal(18, 2)) as line_value
    from items
)

select * from flagged
