-- Top-N product recommendations per person (N = next_best_top_n): the 10 nearest neighbours (item_similarity) of
-- the 5 SKUs the person bought most recently within a year (weight 1, reason co_purchase) and the 5 viewed most
-- recently within 30 days (weight 0.5, co_view), leaving out everything they already bought unless it is a
-- consumable due for replenishment (then recommended itself, reason replenishment_due, ahead of the rest) and
-- anything out of stock. The reason and because_sku of a recommendation are its strongest contribution.
with

customers as (
    select person_id from {{ ref('customers') }}
),

bought as (
    select distinct
        person_id,
        sku
    from {{ ref('order_items') }}
    where person_id is not null and sku is not null and ordered_at <= {{ as_of() }}
),

due as (
    select
        person_id,
        sku,
        days_overdue
    from {{ ref('replenishment_due') }}
    where is_due
),

recent_purchases as (
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
),

recent_views as (
    select
        person_id,
        sku,
        row_number() over (partition by person_id order by max(occurred_at) desc, sku asc) as recency_rank
    from {{ ref('person_events') }}
    where
        event_name = 'product_viewed'
        and sku is not null
        and occurred_at <= {{ as_of() }}
        and occurred_at > {{ dbt.dateadd('day', '-30', as_of()) }}
    group by person_id, sku
),

seeds as (
    select
        person_id,
        sku as seed_sku,
        1.0 as weight,
        'co_purchase' as reason
    from recent_purchases
    where recency_rank <= 5
    union all
    select
        person_id,
        sku as seed_sku,
        0.5 as weight,
        'co_view' as reason
    from recent_views
    where recency_rank <= 5
),

neighbours as (
    select
        sku_a,
        sku_b,
        similarity
    from {{ ref('item_similarity') }}
    where neighbour_rank <= 10
),

scored as (
    select
        seeds.person_id,
        neighbours.sku_b as sku,
        sum(seeds.weight * neighbours.similarity) as score
    from seeds
    inner join neighbours on seeds.seed_sku = neighbours.sku_a
    group by seeds.person_id, neighbours.sku_b
),

-- Replenishment items score above every similarity score (at most 10 seeds x similarity <= 1).
candidates as (
    select
        scored.person_id,
        scored.sku,
        cast(scored.score as double) as score,
        false as is_replenishment
    from scored
    left join bought on scored.person_id = bought.person_id and scored.sku = bought.sku
    where bought.sku is null
    union all
    select
        person_id,
        sku,
        cast(1000 + least(days_overdue, 365) as double) as score,
        true as is_replenishment
    from due
),

-- Ranking runs on narrow rows (person, sku, score); names and categories are joined to the kept top N only.
in_stock as (
    select candidates.*
    from candidates
    left join {{ ref('stg_catalog__products') }} as products on candidates.sku = products.sku
    where coalesce(products.stock_level, 1) > 0
),

ranked as (
    select
        *,
        row_number() over (partition by person_id order by score desc, sku asc) as recommendation_rank
    from in_stock
),

top_n as (
    select ranked.*
    from ranked
    inner join customers on ranked.person_id = customers.person_id
    where ranked.recommendation_rank <= {{ program_setting('next_best_top_n') }}
),

-- Why: the seed that contributed most to each kept similarity recommendation.
contributions as (
    select
        top_n.person_id,
        top_n.sku,
        seeds.seed_sku,
        seeds.reason,
        row_number() over (
            partition by top_n.person_id, top_n.sku
            order by seeds.weight * neighbours.similarity desc, seeds.seed_sku asc, seeds.reason asc
        ) as contribution_rank
    from top_n
    inner join seeds on top_n.person_id = seeds.person_id
    inner join neighbours on seeds.seed_sku = neighbours.sku_a and top_n.sku = neighbours.sku_b
    where not top_n.is_replenishment
)

select
    top_n.person_id,
    top_n.recommendation_rank as rank,  -- noqa: RF04
    top_n.sku,
    cast(top_n.score as decimal(18, 6)) as score,
    case when top_n.is_replenishment then 'replenishment_due' else contributions.reason end as reason,
    case when top_n.is_replenishment then top_n.sku else contributions.seed_sku end as because_sku,
    products.product_name,
    products.category
from top_n
left join contributions
    on
        top_n.person_id = contributions.person_id
        and top_n.sku = contributions.sku
        and contributions.contribution_rank = 1
left join {{ ref('stg_catalog__products') }} as products on top_n.sku = products.sku
