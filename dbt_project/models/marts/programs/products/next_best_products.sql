-- Top-N product recommendations per person (N = next_best_top_n): neighbours (item_similarity) of what the person
-- bought in the last year (weight 1, reason co_purchase) and viewed in the last 30 days (weight 0.5, co_view),
-- leaving out everything they already bought unless it is a consumable due for replenishment (which is then
-- recommended itself, reason replenishment_due, ahead of the rest) and anything out of stock.
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

seeds as (
    select
        person_id,
        sku as seed_sku,
        1.0 as weight,
        'co_purchase' as reason
    from {{ ref('order_items') }}
    where
        person_id is not null
        and sku is not null
        and ordered_at <= {{ as_of() }}
        and ordered_at > {{ dbt.dateadd('day', '-365', as_of()) }}
    group by person_id, sku
    union all
    select
        person_id,
        sku as seed_sku,
        0.5 as weight,
        'co_view' as reason
    from {{ ref('person_events') }}
    where
        event_name = 'product_viewed'
        and sku is not null
        and occurred_at <= {{ as_of() }}
        and occurred_at > {{ dbt.dateadd('day', '-30', as_of()) }}
    group by person_id, sku
),

contributions as (
    select
        seeds.person_id,
        similarity.sku_b as sku,
        seeds.seed_sku,
        seeds.reason,
        seeds.weight * similarity.similarity as contribution
    from seeds
    inner join {{ ref('item_similarity') }} as similarity on seeds.seed_sku = similarity.sku_a
),

ranked_contributions as (
    select
        *,
        sum(contribution) over (partition by person_id, sku) as score,
        row_number() over (
            partition by person_id, sku order by contribution desc, seed_sku asc, reason asc
        ) as contribution_rank
    from contributions
),

similar_items as (
    select
        person_id,
        sku,
        cast(score as double) as score,
        reason,
        seed_sku as because_sku
    from ranked_contributions
    where contribution_rank = 1
),

-- Replenishment items score above every similarity score (similarities are at most 1 per seed).
replenishment as (
    select
        person_id,
        sku,
        cast(1000 + least(days_overdue, 365) as double) as score,
        'replenishment_due' as reason,
        sku as because_sku
    from due
),

candidates as (
    select similar_items.*
    from similar_items
    left join bought on similar_items.person_id = bought.person_id and similar_items.sku = bought.sku
    left join due on similar_items.person_id = due.person_id and similar_items.sku = due.sku
    where bought.sku is null and due.sku is null
    union all
    select * from replenishment
),

in_stock as (
    select
        candidates.*,
        products.product_name,
        products.category
    from candidates
    inner join customers on candidates.person_id = customers.person_id
    left join {{ ref('stg_catalog__products') }} as products on candidates.sku = products.sku
    where coalesce(products.stock_level, 1) > 0
),

ranked as (
    select
        *,
        row_number() over (partition by person_id order by score desc, sku asc) as recommendation_rank
    from in_stock
)

select
    person_id,
    recommendation_rank as rank,
    sku,
    cast(score as decimal(18, 6)) as score,
    reason,
    because_sku,
    product_name,
    category
from ranked
where recommendation_rank <= {{ program_setting('next_best_top_n') }}
