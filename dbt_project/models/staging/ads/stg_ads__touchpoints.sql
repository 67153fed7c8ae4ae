{#- Incremental (docs/incremental.md): event-sized, so a run types only the raw rows loaded since the last run
    (plus a partition window, if given); a row loaded again replaces the stored one by touchpoint_id. -#}
{{ config(
    materialized='incremental',
    unique_key='touchpoint_id',
    tags=['event_sized'],
) }}

with

source as (
    select * from {{ source('ads', 'ad_touchpoints') }}
    where {{ incremental_batch(source_timestamp('occurred_at', 'ad_touchpoints')) }}
),

latest as (
    {{ latest_versions('source', ['trim(touchpoint_id)']) }}
),

typed as (
    select
        trim(touchpoint_id) as touchpoint_id,
        {{ clean_enum('platform') }} as platform,
        trim(campaign_id) as campaign_id,
        {{ clean_enum('touch_type') }} as touch_type,
        {{ clean_text('click_id') }} as click_id,
        -- The landing-page URL parameter that carries this platform's click id (see stg_tracking__events).
        case
            when {{ clean_text('click_id') }} is null then null
            when {{ clean_enum('platform') }} = 'meta' then 'fbclid'
            when {{ clean_enum('platform') }} = 'google' then 'gclid'
            when {{ clean_enum('platform') }} = 'tiktok' then 'ttclid'
        end as click_id_type,
        {{ to_decimal('cost') }} as cost,  -- noqa: RF04
        {{ currency_code('currency') }} as currency,
        {{ source_timestamp('occurred_at', 'ad_touchpoints') }} as occurred_at,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
