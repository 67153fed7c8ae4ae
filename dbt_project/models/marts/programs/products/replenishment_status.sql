-- Per person, the consumables due for a refill (from replenishment_due): how many and the most overdue one.
with

due as (
    select
        *,
        row_number() over (partition by person_id order by days_overdue desc, sku asc) as due_rank
    from {{ ref('replenishment_due') }}
    where is_due
),

summary as (
    select
        person_id,
        count(*) as n_due,
        max(case when due_rank = 1 then sku end) as next_sku,
        max(case when due_rank = 1 then product_name end) as next_product_name,
        max(case when due_rank = 1 then category end) as next_category,
        max(days_overdue) as max_days_overdue
    from due
    group by person_id
)

select * from summary
