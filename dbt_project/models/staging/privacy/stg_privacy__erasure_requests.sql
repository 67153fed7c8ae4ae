with

source as (
    select * from {{ source('privacy', 'erasure_requests') }}
),

latest as (
    {{ latest_versions('source', ['trim(request_id)']) }}
),

typed as (
    select
        trim(request_id) as request_id,
        {{ normalize_identifier('customer_id', 'customer_id') }} as customer_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ source_timestamp('requested_at', 'erasure_requests') }} as requested_at,
        customer_id as customer_id_raw,
        email as email_raw,
        phone as phone_raw,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
