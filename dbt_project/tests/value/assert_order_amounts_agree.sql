-- Warns, order by order, when an export states an order's amount twice and the two disagree by more than a
-- cent: the subtotal against the sum of its lines, or subtotal (else the lines) - discount + shipping_fee
-- against total. Sen values an order from the most detailed amount (int_orders_unioned.amount_basis), so a
-- disagreement means the marts and CLV follow the subtotal or lines while the shop's books follow the total:
-- fix the export, or send one amount only. A cancelled order is checked too: its amounts must agree even
-- though it is left out of the marts, so a status flipped back to completed cannot bring a wrong value.
{{ config(severity='warn') }}

with orders as (
    select * from {{ ref('int_orders_unioned') }}
    where record_source = 'orders'
),

merchandise as (
    select
        *,
        coalesce(stated_subtotal, stated_lines_amount) as stated_merchandise,
        case when stated_subtotal is not null then 'subtotal' else 'lines' end as merchandise_from
    from orders
),

checked as (
    select
        order_id,
        status,
        stated_subtotal,
        stated_lines_amount,
        stated_total,
        discount,
        shipping_fee,
        case
            when abs(stated_subtotal - stated_lines_amount) > 0.01
                then
                    'subtotal ' || cast(stated_subtotal as {{ dbt.type_string() }})
                    || ' differs from the sum of its lines ' || cast(stated_lines_amount as {{ dbt.type_string() }})
            when abs(stated_merchandise - discount + shipping_fee - stated_total) > 0.01
                then
                    'total ' || cast(stated_total as {{ dbt.type_string() }}) || ' differs from '
                    || merchandise_from || ' - discount + shipping_fee = '
                    || cast(stated_merchandise - discount + shipping_fee as {{ dbt.type_string() }})
        end as problem
    from merchandise
)

select * from checked
where problem is not null
