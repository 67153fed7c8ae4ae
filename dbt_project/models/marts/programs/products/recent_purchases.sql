-- What each person bought in the last recent_purchase_days (campaigns.yml settings): acquisition ads suppress
-- them for these categories.
with

items as (
    select
        person_id,
        order_id,
        sku,
        category,
        ordered_at
    from {{ ref('order_items') }}
    where
        person_id is not null
        and ordered_at <= {{ as_of() }}
        and ordered_at > {{ dbt.dateadd('day', '-1 * ' ~ program_setting('recent_purchase_days'), as_of()) }}
),

summary as (
    select
        person_id,
        max(ordered_at) as last_order_at,
        count(distinct order_id) as recent_orders,
        {{ sorted_distinct_list('category') }} as recent_categories,
        {{ sorted_distinct_list('sku') }} as recent_skus
    from items
    group by person_id
)

select * from summary
