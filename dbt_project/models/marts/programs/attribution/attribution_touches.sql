-- Marketing touches that can be credited with an order: ad clicks (ad platform clicks matched to a person through
-- the click id on the landing page), email clicks, push opens and site or app visits. A visit starts after
-- visit_gap_minutes without page or screen views; visits that an ad click or an email click already stands for
-- (a click id of a known ad click, or utm_medium = email) are not counted twice.
-- Each CTE reads person_events itself (no shared `events` CTE): a CTE used three times is materialized with every
-- column, where separate scans read only the columns and rows each part needs.
with

-- The person behind each click id (a click id seen with two different persons is ambiguous and not used).
click_people as (
    select
        click_id,
        min(person_id) as person_id
    from {{ ref('person_events') }}
    where click_id is not null and occurred_at <= {{ as_of() }}
    group by click_id
    having count(distinct person_id) = 1
),

ad_clicks as (
    select
        touchpoints.touchpoint_id as touch_id,
        click_people.person_id,
        touchpoints.occurred_at as touched_at,
        'ad_click' as touch_type,
        'paid_' || touchpoints.platform as channel,
        touchpoints.campaign_id
    from {{ ref('stg_ads__touchpoints') }} as touchpoints
    inner join click_people on touchpoints.click_id = click_people.click_id
    where touchpoints.touch_type = 'click' and touchpoints.occurred_at <= {{ as_of() }}
),

ad_click_ids as (
    select distinct touchpoints.click_id
    from {{ ref('stg_ads__touchpoints') }} as touchpoints
    inner join click_people on touchpoints.click_id = click_people.click_id
    where touchpoints.touch_type = 'click'
),

email_clicks as (
    select
        event_id as touch_id,
        person_id,
        occurred_at as touched_at,
        'email_click' as touch_type,
        'email' as channel,
        campaign_id
    from {{ ref('person_email_events') }}
    where event_type = 'clicked' and occurred_at <= {{ as_of() }}
),

push_opens as (
    select
        event_id as touch_id,
        person_id,
        occurred_at as touched_at,
        'push_open' as touch_type,
        'push' as channel,
        campaign_id
    from {{ ref('person_events') }}
    where event_name = 'push_notification_opened' and occurred_at <= {{ as_of() }}
),

views as (
    select
        event_id,
        person_id,
        occurred_at,
        is_external_referrer,
        utm_source,
        utm_medium,
        utm_campaign,
        click_id,
        lag(occurred_at) over (partition by person_id order by occurred_at, event_id) as previous_at
    from {{ ref('person_events') }}
    where event_type in ('page', 'screen') and occurred_at <= {{ as_of() }}
),

visit_starts as (
    select *
    from views
    where
        previous_at is null
        or previous_at < {{ dbt.dateadd('minute', '-1 * ' ~ program_setting('visit_gap_minutes'), 'occurred_at') }}
),

visits as (
    select
        visit_starts.event_id as touch_id,
        visit_starts.person_id,
        visit_starts.occurred_at as touched_at,
        'visit' as touch_type,
        case
            when lower(visit_starts.utm_medium) in ('cpc', 'ppc', 'paid_social', 'paid', 'display')
                then 'paid_' || coalesce(lower(visit_starts.utm_source), 'unknown')
            when lower(visit_starts.utm_source) = 'zalo' or lower(visit_starts.utm_medium) = 'oa_message' then 'zalo_oa'
            when visit_starts.utm_medium is not null then lower(visit_starts.utm_medium)
            when visit_starts.is_external_referrer then 'referral'
            else 'direct'
        end as channel,
        visit_starts.utm_campaign as campaign_id
    from visit_starts
    left join ad_click_ids on visit_starts.click_id = ad_click_ids.click_id
    where ad_click_ids.click_id is null and coalesce(lower(visit_starts.utm_medium), '') <> 'email'
),

unioned as (
    select * from ad_clicks
    union all
    select * from email_clicks
    union all
    select * from push_opens
    union all
    select * from visits
)

select * from unioned
