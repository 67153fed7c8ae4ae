-- Tracking events with the person behind each one: the `events` collection of segment definitions and the input of
-- the cart, channel, attribution and recommendation programs. Parsed from staging once, so the JSON of tens of
-- millions of events is read a single time per run. Erased persons are left out.
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
        events.page_url,
        events.referrer,
        events.utm_source,
        events.utm_medium,
        events.utm_campaign,
        events.click_id,
        events.click_id_type,
        events.sku,
        events.category,
        events.price,
        events.quantity,
        events.cart_id,
        events.order_id,
        events.revenue,
        events.campaign_id,
        events.push_token
    from events
    inner join record_persons on events.event_id = record_persons.record_id
    left join erased on record_persons.person_id = erased.person_id
    where
        erased.person_id is null
        and events.occurred_at is not null
)

select * from joined
