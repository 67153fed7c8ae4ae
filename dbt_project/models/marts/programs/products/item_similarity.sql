-- Item-to-item similarity from co-purchase (bought by the same person within a year) and co-view (viewed by the
-- same person on the same day within 90 days). similarity = (co-buyers + co-view days / 4) normalized by the
-- geometric mean of both items' popularity (a cosine), keeping the 20 nearest neighbours of each SKU. Each person
-- contributes at most 20 recent SKUs and each person-day at most 10 views, so heavy users cannot dominate or blow up
-- the pair count.
with

purchases as (
    select
        person_id,
        sku
    from (
        select
            person_id,
            sku,
            row_number() over (partition by person_id order by max(ordered_at) desc, sku asc) as recency_rank
        from {{ ref('order_items') }}
        where
            person_id is not null
            and sku is not null
            and ordered_at <= {{ as_of() }}
            and ordered_at > {{ dbt.dateadd('day', '-365', as_of()) }}
        group by person_id, sku
    ) as ranked
    where recency_rank <= 20
),

views as (
    select
        person_id,
        occurred_date,
        sku
    from (
        select
            person_id,
            occurred_date,
            sku,
            row_number() over (partition by person_id, occurred_date order by max(occurred_at) desc, sku asc) as view_rank
        from {{ ref('person_events') }}
        where
            event_name = 'product_viewed'
            and sku is not null
            and occurred_at <= {{ as_of() }}
            and occurred_at > {{ dbt.dateadd('day', '-90', as_of()) }}
        group by person_id, occurred_date, sku
    ) as ranked
    where view_rank <= 10
),

-- Co-occurrence and similarity are symmetric: each unordered pair is counted and scored once (sku_a < sku_b) and
-- mirrored before ranking, which halves the self-joins, their aggregation and the pair joins.
co_purchase_half as (
    select
        a.sku as sku_a,
        b.sku as sku_b,
        count(*) as co_purchases
    from purchases as a
    inner join purchases as b on a.person_id = b.person_id and a.sku < b.sku
    group by a.sku, b.sku
),

co_view_half as (
    select
        a.sku as sku_a,
        b.sku as sku_b,
        count(*) as co_views
    from views as a
    inner join views as b
        on a.person_id = b.person_id and a.occurred_date = b.occurred_date and a.sku < b.sku
    group by a.sku, b.sku
),

popularity as (
    select
        sku,
        sum(buyers) + sum(view_days) / 4.0 as weight
    from (
        select
            sku,
            count(*) as buyers,
            0 as view_days
        from purchases
        group by sku
        union all
        select
            sku,
            0 as buyers,
            count(*) as view_days
        from views
        group by sku
    ) as counts
    group by sku
),

pairs as (
    select
        coalesce(co_purchase_half.sku_a, co_view_half.sku_a) as sku_a,
        coalesce(co_purchase_half.sku_b, co_view_half.sku_b) as sku_b,
        coalesce(co_purchase_half.co_purchases, 0) as co_purchases,
        coalesce(co_view_half.co_views, 0) as co_views
    from co_purchase_half
    full outer join co_view_half
        on co_purchase_half.sku_a = co_view_half.sku_a and co_purchase_half.sku_b = co_view_half.sku_b
),

scored_half as (
    select
        pairs.sku_a,
        pairs.sku_b,
        pairs.co_purchases,
        pairs.co_views,
        (pairs.co_purchases + pairs.co_views / 4.0) / sqrt(pop_a.weight * pop_b.weight) as similarity
    from pairs
    inner join popularity as pop_a on pairs.sku_a = pop_a.sku
    inner join popularity as pop_b on pairs.sku_b = pop_b.sku
),

scored as (
    select
        sku_a,
        sku_b,
        co_purchases,
        co_views,
        similarity
    from scored_half
    union all
    select
        sku_b as sku_a,
        sku_a as sku_b,
        co_purchases,
        co_views,
        similarity
    from scored_half
),

ranked as (
    select
        *,
        row_number() over (partition by sku_a order by similarity desc, sku_b asc) as neighbour_rank
    from scored
)

select
    sku_a,
    sku_b,
    co_purchases,
    co_views,
    cast(similarity as double) as similarity,
    neighbour_rank
from ranked
where neighbour_rank <= 20
