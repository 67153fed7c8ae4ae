with

source as (
    select * from {{ source('raw', 'email_events') }}
),

latest as (
    {{ latest_versions('source', ['trim(event_id)']) }}
),

typed as (
    select
        trim(event_id) as event_id,
        {{ normalize_email('email') }} as email,
        trim(campaign_id) as campaign_id,
        {{ clean_enum('event_type') }} as event_type,
        {{ clean_text('url') }} as url,
        {{ source_timestamp('occurred_at', 'email_events') }} as occurred_at,
        email as email_raw,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
