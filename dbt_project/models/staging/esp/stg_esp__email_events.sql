{#- Incremental (docs/incremental.md): event-sized, so a run types only the raw rows loaded since the last run
    (plus a partition window, if given); a row loaded again replaces the stored one by event_id. -#}
{{ config(
    materialized='incremental',
    unique_key='event_id',
    tags=['event_sized'],
) }}

with

source as (
    select * from {{ source('esp', 'email_events') }}
    where {{ incremental_batch(source_timestamp('occurred_at', 'email_events')) }}
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
