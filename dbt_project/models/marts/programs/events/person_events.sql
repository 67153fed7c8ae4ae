-- Tracking events with the person behind each one: the `events` collection of segment definitions and the input of
-- the cart, channel, attribution and recommendation programs. A table: a dozen models read it, and as a view each
-- of them repeated the join of all events with int_record_persons, which at 50 M events (hash tables larger than
-- memory) cost more than writing the join once (bench/bench_segments.py, docs/segments.md).
-- Not incremental on purpose: identity merges move old events to another person. Erased persons are left out.
with

events as (
    select * from {{ ref('stg_tracking__events') }}
),

record_persons as (
    select
        record_id,
        person_id
    from {{ ref('int_record_persons') }}
    where record_source = 'events'
),

erased as (
    select person_id from {{ ref('int_erased_persons') }}
),

joined as (
    select
        events.event_id,
        record_persons.person_id,
        events.event_type,
        events.event_name,
        events.occurred_at,
        cast(events.occurred_at as date) as occurred_date,
        events.platform,
        -- Attribution only needs to know whether a visit came from another site, not the URLs themselves.
        coalesce(
            {{ dbt.split_part(dbt.split_part('events.referrer', "'//'", 2), "'/'", 1) }}
            <> {{ dbt.split_part(dbt.split_part('events.page_url', "'//'", 2), "'/'", 1) }},
            false
        ) as is_external_referrer,
        events.utm_source,
        events.utm_medium,
        events.utm_campaign,
        events.click_id,
        events.sku,
        events.category,
        events.price,
        events.quantity,
        events.cart_id,
        events.revenue,
        events.campaign_id
    from events
    inner join record_persons on events.event_id = record_persons.record_id
    left join erased on record_persons.person_id = erased.person_id
    where
        erased.person_id is null
        and events.occurred_at is not null
)

select * from joined
