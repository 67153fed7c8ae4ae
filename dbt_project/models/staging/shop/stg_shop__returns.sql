with

source as (
    select * from {{ source('shop', 'returns') }}
),

latest as (
    {{ latest_versions('source', ['trim(return_id)']) }}
),

typed as (
    select
        trim(return_id) as return_id,
        -- An e-commerce order id or a store transaction id.
        trim(order_id) as order_id,
        {{ clean_code('sku') }} as sku,
        {{ to_integer('quantity') }} as quantity,
        {{ to_decimal('refund_amount') }} as refund_amount,
        {{ currency_code('currency') }} as currency,
        {{ clean_enum('reason') }} as reason,
        {{ source_timestamp('returned_at', 'returns') }} as returned_at,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
