with

source as (
    select * from {{ source('privacy', 'consent_changes') }}
),

latest as (
    {{ latest_versions('source', ['trim(change_id)']) }}
),

typed as (
    select
        trim(change_id) as change_id,
        {{ normalize_identifier('customer_id', 'customer_id') }} as customer_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ clean_enum('channel') }} as channel,
        {{ clean_enum('status') }} as status,
        {{ clean_enum('source') }} as consent_source,
        {{ source_timestamp('changed_at', 'consent_changes') }} as changed_at,
        customer_id as customer_id_raw,
        email as email_raw,
        phone as phone_raw,
        _source_file,
        _source_line,
        _loaded_at
    from latest
),

flagged as (
    select
        *,
        status = 'granted' as is_granted
    from typed
)

select * from flagged
