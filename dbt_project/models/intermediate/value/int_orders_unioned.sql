-- Every web/app order and every store (POS) transaction in one shape, with its person, its amounts net of
-- returns, and why it is left out of the value marts (exclusion_reason; null = kept). marts.orders keeps the
-- rows without a reason; this model keeps all of them so the exclusions can be audited.
with shop_orders as (
    select * from {{ ref('stg_shop__orders') }}
),

pos_transactions as (
    select * from {{ ref('stg_pos__transactions') }}
),

lines as (
    select
        order_id,
        count(*) as n_lines,
        sum(quantity) as n_items,
        cast(sum(line_amount) as decimal(18, 2)) as lines_amount,
        -- Store lines with a negative amount are returns at the till (stg_pos__transaction_lines.kind).
        cast(sum(case when line_amount > 0 then line_amount else 0 end) as decimal(18, 2)) as sold_amount,
        cast(sum(case when line_amount < 0 then -line_amount else 0 end) as decimal(18, 2)) as till_returned_amount
    from {{ ref('int_order_lines_unioned') }}
    group by order_id
),

refunds as (
    select * from {{ ref('int_order_refunds_summed') }}
),

test_accounts as (
    select * from {{ ref('int_test_accounts_identified') }}
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
    where record_source in ('orders', 'pos')
),

erased as (
    select * from {{ ref('int_erased_persons') }}
),

shop_amounts as (
    -- The contract requires only `total`; subtotal, discount, shipping_fee and the lines are optional. The
    -- merchandise value comes from the most detailed amount the export has: subtotal, else the lines, else
    -- total less shipping plus discount (a shop exporting one amount per order still gets a real value).
    select
        shop_orders.*,
        lines.lines_amount,
        lines.n_items,
        case
            when shop_orders.subtotal is not null then 'subtotal'
            when lines.lines_amount is not null then 'order_lines'
            when shop_orders.total is not null then 'total'
            else 'none'
        end as amount_basis,
        coalesce(
            shop_orders.subtotal,
            lines.lines_amount,
            shop_orders.total - coalesce(shop_orders.shipping_fee, 0) + coalesce(shop_orders.discount, 0)
        ) as merchandise_amount
    from shop_orders
    left join lines on shop_orders.order_id = lines.order_id
),

shop as (
    select
        order_id,
        'orders' as record_source,
        channel,
        cast(null as {{ dbt.type_string() }}) as store_id,
        status,
        is_test,
        customer_id,
        currency,
        amount_basis,
        -- Merchandise value before discount (see shop_amounts for where it comes from).
        cast(coalesce(merchandise_amount, 0) as decimal(18, 2)) as gross_amount,
        cast(coalesce(discount, 0) as decimal(18, 2)) as discount,
        cast(coalesce(shipping_fee, 0) as decimal(18, 2)) as shipping_fee,
        cast(
            coalesce(total, coalesce(merchandise_amount, 0) - coalesce(discount, 0) + coalesce(shipping_fee, 0))
            as decimal(18, 2)
        ) as paid_amount,
        cast(0 as decimal(18, 2)) as till_returned_amount,
        -- The amounts the export gives twice, kept for the agreement check (tests/value/assert_order_amounts_agree).
        cast(subtotal as decimal(18, 2)) as stated_subtotal,
        cast(lines_amount as decimal(18, 2)) as stated_lines_amount,
        cast(total as decimal(18, 2)) as stated_total,
        coalesce(n_items, 0) as n_items,
        coupon_code,
        created_at as ordered_at
    from shop_amounts
),

store as (
    select
        pos_transactions.transaction_id as order_id,
        'pos' as record_source,
        'store' as channel,
        pos_transactions.store_id,
        pos_transactions.status,
        false as is_test,
        pos_transactions.customer_id,
        pos_transactions.currency,
        case when lines.lines_amount is null then 'none' else 'order_lines' end as amount_basis,
        -- Goods sold; goods returned at the till in the same transaction are refunds of it (netted below).
        cast(coalesce(lines.sold_amount, 0) as decimal(18, 2)) as gross_amount,
        cast(0 as decimal(18, 2)) as discount,
        cast(0 as decimal(18, 2)) as shipping_fee,
        cast(coalesce(lines.lines_amount, 0) as decimal(18, 2)) as paid_amount,
        cast(coalesce(lines.till_returned_amount, 0) as decimal(18, 2)) as till_returned_amount,
        cast(null as decimal(18, 2)) as stated_subtotal,
        cast(lines.lines_amount as decimal(18, 2)) as stated_lines_amount,
        cast(null as decimal(18, 2)) as stated_total,
        coalesce(lines.n_items, 0) as n_items,
        cast(null as {{ dbt.type_string() }}) as coupon_code,
        pos_transactions.transacted_at as ordered_at
    from pos_transactions
    left join lines on pos_transactions.transaction_id = lines.order_id
),

unioned as (
    select * from shop
    union all
    select * from store
),

netted as (
    select
        unioned.*,
        record_persons.person_id,
        coalesce(refunds.n_returns, 0) as n_returns,
        -- A refunded order counts as refunded in full even when its refund record is not in the export.
        cast(
            case
                when unioned.status = 'refunded' then unioned.paid_amount
                when unioned.record_source = 'pos'
                    then least(coalesce(refunds.refund_amount, 0) + unioned.till_returned_amount, unioned.gross_amount)
                else least(coalesce(refunds.refund_amount, 0), unioned.paid_amount)
            end as decimal(18, 2)
        ) as refunded_amount,
        test_accounts.reasons as test_account_reasons,
        erased.person_id is not null as is_erased_person
    from unioned
    left join refunds on unioned.order_id = refunds.order_id
    left join record_persons
        on unioned.record_source = record_persons.record_source and unioned.order_id = record_persons.record_id
    left join test_accounts on unioned.customer_id = test_accounts.customer_id
    left join erased on record_persons.person_id = erased.person_id
),

final as (
    select
        order_id,
        person_id,
        record_source,
        channel,
        store_id,
        status,
        coalesce(currency, '{{ var("default_currency", "VND") }}') as currency,
        amount_basis,
        gross_amount,
        discount,
        shipping_fee,
        paid_amount,
        refunded_amount,
        till_returned_amount,
        -- Merchandise kept by the customer: after discount and refunds, without shipping; never below 0 (a
        -- refund that includes the shipping fee would otherwise go negative).
        cast(greatest(gross_amount - discount - refunded_amount, 0) as decimal(18, 2)) as net_amount,
        paid_amount > 0 and refunded_amount >= paid_amount as is_fully_refunded,
        stated_subtotal,
        stated_lines_amount,
        stated_total,
        n_returns,
        n_items,
        coupon_code,
        customer_id,
        ordered_at,
        {{ local_date('ordered_at') }} as ordered_date,
        is_test,
        test_account_reasons,
        case
            when ordered_at is null then 'no_timestamp'
            when ordered_at > {{ as_of() }} then 'after_as_of'
            when status = 'cancelled' then 'cancelled'
            when status = 'voided' then 'voided'
            -- Only goods brought back: a return whose sale the POS export does not name, not a purchase.
            when record_source = 'pos' and gross_amount = 0 and till_returned_amount > 0 then 'store_return'
            when is_test then 'test_order'
            when test_account_reasons is not null then 'test_account'
            when is_erased_person then 'erased_person'
        end as exclusion_reason
    from netted
)

select * from final
