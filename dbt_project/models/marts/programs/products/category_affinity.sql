-- Interest of each active person in each product category: views (1 point) and carts (3) over
-- affinity_window_days, purchases (5) over a year. Affine = the category holds at least affinity_min_share of the
-- person's points and at least affinity_min_score points. Uninterested (the inverse: do not show them this
-- category) = the person has uninterested_min_interactions or more interactions elsewhere and none here.
with

events as (
    select
        person_id,
        category,
        sum(case when event_name = 'product_viewed' then 1 else 0 end) as n_views,
        sum(case when event_name = 'product_added' then 1 else 0 end) as n_carts
    from {{ ref('person_events') }}
    where
        category is not null
        and event_name in ('product_viewed', 'product_added')
        and occurred_at <= {{ as_of() }}
        and occurred_at > {{ dbt.dateadd('day', '-1 * ' ~ program_setting('affinity_window_days'), as_of()) }}
    group by person_id, category
),

purchases as (
    select
        person_id,
        category,
        count(distinct order_id) as n_purchases
    from {{ ref('order_items') }}
    where
        person_id is not null
        and category is not null
        and ordered_at <= {{ as_of() }}
        and ordered_at > {{ dbt.dateadd('day', '-365', as_of()) }}
    group by person_id, category
),

categories as (
    select distinct category from {{ ref('stg_catalog__products') }}
    where category is not null
),

interactions as (
    select
        coalesce(events.person_id, purchases.person_id) as person_id,
        coalesce(events.category, purchases.category) as category,
        coalesce(events.n_views, 0) as n_views,
        coalesce(events.n_carts, 0) as n_carts,
        coalesce(purchases.n_purchases, 0) as n_purchases
    from events
    full outer join purchases on events.person_id = purchases.person_id and events.category = purchases.category
),

people as (
    select
        person_id,
        sum(n_views + n_carts + n_purchases) as total_interactions,
        sum(n_views + 3 * n_carts + 5 * n_purchases) as total_score
    from interactions
    group by person_id
),

grid as (
    select
        people.person_id,
        categories.category,
        people.total_interactions,
        people.total_score,
        coalesce(interactions.n_views, 0) as views_90d,
        coalesce(interactions.n_carts, 0) as carts_90d,
        coalesce(interactions.n_purchases, 0) as purchases_365d
    from people
    cross join categories
    left join interactions
        on people.person_id = interactions.person_id and categories.category = interactions.category
),

scored as (
    select
        person_id,
        category,
        views_90d,
        carts_90d,
        purchases_365d,
        views_90d + 3 * carts_90d + 5 * purchases_365d as score,
        total_score,
        total_interactions
    from grid
),

flagged as (
    select
        person_id,
        category,
        views_90d,
        carts_90d,
        purchases_365d,
        score,
        cast(case when total_score > 0 then 1.0 * score / total_score else 0 end as decimal(10, 4)) as interest_share,
        coalesce(
            score >= {{ program_setting('affinity_min_score') }}
            and 1.0 * score / nullif(total_score, 0) >= {{ program_setting('affinity_min_share', 'decimal(10, 4)') }},
            false
        ) as is_affine,
        coalesce(
            score = 0 and total_interactions >= {{ program_setting('uninterested_min_interactions') }}, false
        ) as is_uninterested
    from scored
)

select * from flagged
