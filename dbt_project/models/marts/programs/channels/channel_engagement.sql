-- How much each person engages with each messaging channel over engagement_window_days: email opens (1 point)
-- and clicks (2), push opens (2), Zalo chat conversations where the person wrote (2). SMS has no engagement
-- signal and ranks by the default order only.
with

since as (
    select {{ dbt.dateadd('day', '-1 * ' ~ program_setting('engagement_window_days'), as_of()) }} as since_at
),

email as (
    select
        email_events.person_id,
        'email' as channel,
        sum(case when email_events.event_type = 'clicked' then 2 else 1 end) as score,
        max(email_events.occurred_at) as last_engaged_at
    from {{ ref('person_email_events') }} as email_events
    cross join since
    where
        email_events.event_type in ('opened', 'clicked')
        and email_events.occurred_at > since.since_at
        and email_events.occurred_at <= {{ as_of() }}
    group by email_events.person_id
),

push as (
    select
        events.person_id,
        'push' as channel,
        2 * count(*) as score,
        max(events.occurred_at) as last_engaged_at
    from {{ ref('person_events') }} as events
    cross join since
    where
        events.event_name = 'push_notification_opened'
        and events.occurred_at > since.since_at
        and events.occurred_at <= {{ as_of() }}
    group by events.person_id
),

zalo as (
    select
        record_persons.person_id,
        'zalo' as channel,
        2 * count(*) as score,
        max(coalesce(chats.last_message_at, chats.started_at)) as last_engaged_at
    from {{ ref('stg_chat__conversations') }} as chats
    inner join {{ ref('int_record_persons') }} as record_persons
        on record_persons.record_source = 'chat' and chats.conversation_id = record_persons.record_id
    cross join since
    where
        chats.platform = 'zalo'
        and coalesce(chats.customer_messages, 0) > 0
        and chats.started_at > since.since_at
        and chats.started_at <= {{ as_of() }}
    group by record_persons.person_id
),

unioned as (
    select * from email
    union all
    select * from push
    union all
    select * from zalo
)

select unioned.*
from unioned
inner join {{ ref('customers') }} as customers on unioned.person_id = customers.person_id
