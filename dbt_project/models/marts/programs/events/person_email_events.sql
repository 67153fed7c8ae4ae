-- Email engagement (sent, opened, clicked, bounced, unsubscribed) with the person behind each event; erased persons
-- are left out. Feeds best channel, attribution (email clicks) and the cart program's "ignored" check.
with

email_events as (
    select * from {{ ref('stg_esp__email_events') }}
),

record_persons as (
    select
        record_id,
        person_id
    from {{ ref('int_record_persons') }}
    where record_source = 'email_events'
),

erased as (
    select person_id from {{ ref('int_erased_persons') }}
),

joined as (
    select
        email_events.event_id,
        record_persons.person_id,
        email_events.email,
        email_events.campaign_id,
        email_events.event_type,
        email_events.url,
        email_events.occurred_at
    from email_events
    inner join record_persons on email_events.event_id = record_persons.record_id
    left join erased on record_persons.person_id = erased.person_id
    where
        erased.person_id is null
        and email_events.occurred_at is not null
)

select * from joined
