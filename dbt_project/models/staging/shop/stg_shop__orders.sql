with

source as (
    select * from {{ source('shop', 'orders') }}
),

latest as (
    {{ latest_versions('source', ['trim(order_id)']) }}
),

typed as (
    select
        trim(order_id) as order_id,
        {{ normalize_identifier('customer_id', 'customer_id') }} as customer_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ normalize_identifier('anonymous_id', 'anonymous_id') }} as anonymous_id,
        {{ clean_enum('channel') }} as channel,
        {{ clean_enum('status') }} as status,
        {{ currency_code('currency') }} as currency,
        {{ to_decimal('subtotal') }} as subtotal,
        -- Exports write a discount as a positive reduction or as a negative amount: its size is the reduction.
        abs({{ to_decimal('discount') }}) as discount,
        {{ to_decimal('shipping_fee') }} as shipping_fee,
        {{ to_decimal('total') }} as total,
        {{ clean_code('coupon_code') }} as coupon_code,
        {{ clean_text('shipping_city') }} as shipping_city,
        coalesce({{ to_boolean('is_test') }}, false) as is_test,
        {{ source_timestamp('created_at', 'orders') }} as created_at,
        customer_id as customer_id_raw,
        email as email_raw,
        phone as phone_raw,
        anonymous_id as anonymous_id_raw,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
