{#- Header level of the store export: one row per transaction. Header fields are repeated on every line; min()
    takes the non-empty one deterministically when some lines leave it blank. -#}
with

lines as (
    select * from {{ ref('stg_pos__transaction_lines') }}
),

headers as (
    select
        transaction_id,
        min(store_id) as store_id,
        min(transacted_at) as transacted_at,
        min(phone) as phone,
        min(loyalty_card_id) as loyalty_card_id,
        min(customer_id) as customer_id,
        min(currency) as currency,
        min(payment_method) as payment_method,
        -- A transaction is voided when every line is voided.
        case when min(status) = 'voided' then 'voided' else 'completed' end as status,
        count(*) as n_lines,
        sum(quantity) as total_quantity,
        cast(sum(line_total) as decimal(18, 2)) as total_amount,
        cast(sum(case when status = 'completed' then line_total else 0 end) as decimal(18, 2)) as completed_amount,
        min(phone_raw) as phone_raw,
        min(loyalty_card_id_raw) as loyalty_card_id_raw,
        min(customer_id_raw) as customer_id_raw,
        min(_source_file) as _source_file,
        min(_source_line) as _source_line,
        max(_loaded_at) as _loaded_at
    from lines
    group by transaction_id
)

select * from headers
