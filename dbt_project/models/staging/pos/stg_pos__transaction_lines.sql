with

source as (
    select * from {{ source('pos', 'pos_transactions') }}
),

latest as (
    {{ latest_versions('source', ['trim(transaction_id)', to_integer('line_number')]) }}
),

typed as (
    select
        trim(transaction_id) || '-' || cast({{ to_integer('line_number') }} as {{ dbt.type_string() }})
            as transaction_line_id,
        trim(transaction_id) as transaction_id,
        {{ to_integer('line_number') }} as line_number,
        {{ clean_code('store_id') }} as store_id,
        {{ source_timestamp('transacted_at', 'pos_transactions') }} as transacted_at,
        {{ normalize_phone('phone') }} as phone,
        {{ normalize_identifier('loyalty_card_id', 'loyalty_card') }} as loyalty_card_id,
        {{ normalize_identifier('customer_id', 'customer_id') }} as customer_id,
        {{ clean_code('sku') }} as sku,
        {{ to_integer('quantity') }} as quantity,
        {{ to_decimal('unit_price') }} as unit_price,
        coalesce(
            {{ to_decimal('line_total') }},
            cast({{ to_integer('quantity') }} * {{ to_decimal('unit_price') }} as decimal(18, 2))
        ) as line_total,
        {{ currency_code('currency') }} as currency,
        {{ clean_enum('payment_method') }} as payment_method,
        -- The POS flags voids explicitly; a line without a status is a completed sale.
        coalesce({{ clean_enum('status') }}, 'completed') as status,
        -- A negative quantity is goods brought back at the till (the contract allows it on store lines).
        case when {{ to_integer('quantity') }} < 0 then 'return' else 'sale' end as kind,
        phone as phone_raw,
        loyalty_card_id as loyalty_card_id_raw,
        customer_id as customer_id_raw,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
