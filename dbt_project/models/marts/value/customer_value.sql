-- One row per person with at least one purchase as of as_of: order history, value and RFM scores/segment.
-- A purchase is an order of marts.orders that was not refunded in full; same-day purchases (business calendar)
-- form one purchase occasion. RFM: quintiles with ntile(5), ties broken by person_id; see the rfm_segments doc.
with orders as (
    select * from {{ ref('orders') }}
    where person_id is not null
),

per_person as (
    select
        person_id,
        min(case when not is_fully_refunded then ordered_at end) as first_order_at,
        max(case when not is_fully_refunded then ordered_at end) as last_order_at,
        min(case when not is_fully_refunded then ordered_date end) as first_order_date,
        max(case when not is_fully_refunded then ordered_date end) as last_order_date,
        count(case when not is_fully_refunded then order_id end) as orders,
        count(distinct case when not is_fully_refunded then ordered_date end) as purchase_occasions,
        count(case when not is_fully_refunded and channel = 'web' then order_id end) as web_orders,
        count(case when not is_fully_refunded and channel = 'app' then order_id end) as app_orders,
        count(case when not is_fully_refunded and channel = 'store' then order_id end) as store_orders,
        count(case when is_fully_refunded then order_id end) as fully_refunded_orders,
        cast(sum(gross_amount) as decimal(18, 2)) as total_gross_amount,
        cast(sum(discount) as decimal(18, 2)) as total_discount,
        cast(sum(refunded_amount) as decimal(18, 2)) as total_refunded_amount,
        cast(sum(net_amount) as decimal(18, 2)) as total_net_amount
    from orders
    group by person_id
),

purchasers as (
    select
        *,
        cast(total_net_amount / orders as decimal(18, 2)) as avg_order_value,
        {{ days_between('first_order_date', local_date(as_of())) }} as tenure_days,
        {{ days_between('last_order_date', local_date(as_of())) }} as recency_days
    from per_person
    where orders > 0
),

scored as (
    select
        *,
        -- Recency is reversed: the most recent buyers get 5.
        ntile(5) over (order by recency_days desc, person_id asc) as rfm_recency_score,
        ntile(5) over (order by purchase_occasions asc, person_id asc) as rfm_frequency_score,
        ntile(5) over (order by total_net_amount asc, person_id asc) as rfm_monetary_score
    from purchasers
),

final as (
    select
        person_id,
        first_order_at,
        last_order_at,
        first_order_date,
        last_order_date,
        orders,
        purchase_occasions,
        web_orders,
        app_orders,
        store_orders,
        fully_refunded_orders,
        total_gross_amount,
        total_discount,
        total_refunded_amount,
        total_net_amount,
        avg_order_value,
        tenure_days,
        recency_days,
        rfm_recency_score,
        rfm_frequency_score,
        rfm_monetary_score,
        {{ rfm_fm_score('rfm_frequency_score', 'rfm_monetary_score') }} as rfm_fm_score,
        cast(rfm_recency_score as {{ dbt.type_string() }})
        || cast(rfm_frequency_score as {{ dbt.type_string() }})
        || cast(rfm_monetary_score as {{ dbt.type_string() }}) as rfm_score,
        {{ rfm_segment('rfm_recency_score', 'rfm_frequency_score', 'rfm_monetary_score') }} as rfm_segment,
        {{ as_of() }} as as_of
    from scored
)

select * from final
