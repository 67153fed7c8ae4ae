-- The onboarding metrics of a CDP team, one row per day up to the reference date: push tokens (web, app),
-- anonymous vs identified profiles, profiles identified that day after being anonymous, and devices and
-- browsers per identified customer. Cumulative figures count what was known by the end of the day.
with customers as (
    select * from {{ ref('customers') }}
),

tokens as (
    select
        tokens.platform,
        tokens.first_registered_at
    from {{ ref('stg_tracking__push_tokens') }} as tokens
    inner join {{ source('identity', 'identifier_person_map') }} as person_map
        on person_map.identifier_type = 'push_token' and tokens.push_token = person_map.identifier_value
    inner join customers on person_map.person_id = customers.person_id
),

event_devices as (
    select
        record_persons.person_id,
        case when events.platform = 'web' then 'browser' else 'device' end as kind,
        case when events.platform = 'web' then events.anonymous_id else events.device_id end as device_key,
        min(events.occurred_at) as first_seen_at
    from {{ ref('stg_tracking__events') }} as events
    inner join {{ ref('int_record_persons') }} as record_persons
        on record_persons.record_source = 'events' and events.event_id = record_persons.record_id
    where coalesce(case when events.platform = 'web' then events.anonymous_id else events.device_id end, '') != ''
    group by 1, 2, 3
),

identified_devices as (
    select
        event_devices.kind,
        -- A device counts for an identified customer from when both the device and the identity were known.
        greatest(event_devices.first_seen_at, customers.identified_at) as counted_at
    from event_devices
    inner join customers on event_devices.person_id = customers.person_id
    where customers.is_identified
),

bounds as (
    select
        cast(min(first_seen_at) as date) as start_day,
        cast({{ as_of() }} as date) as end_day
    from customers
),

days as (
    select date_day as kpi_date
    from ({{ date_spine('(select start_day from bounds)', '(select end_day from bounds)') }}) as spine
),

profile_days as (
    select
        cast(first_seen_at as date) as kpi_date,
        count(*) as new_profiles
    from customers
    group by 1
),

identified_days as (
    select
        cast(identified_at as date) as kpi_date,
        count(*) as newly_identified,
        count(case when cast(first_seen_at as date) < cast(identified_at as date) then 1 end)
            as anonymous_became_identified
    from customers
    where identified_at is not null
    group by 1
),

token_days as (
    select
        cast(first_registered_at as date) as kpi_date,
        count(case when platform = 'web' then 1 end) as new_web_push_tokens,
        count(case when platform in ('ios', 'android') then 1 end) as new_app_push_tokens
    from tokens
    group by 1
),

device_days as (
    select
        cast(counted_at as date) as kpi_date,
        count(case when kind = 'device' then 1 end) as new_identified_devices,
        count(case when kind = 'browser' then 1 end) as new_identified_browsers
    from identified_devices
    group by 1
),

daily as (
    select
        days.kpi_date,
        coalesce(profile_days.new_profiles, 0) as new_profiles,
        coalesce(identified_days.newly_identified, 0) as newly_identified,
        coalesce(identified_days.anonymous_became_identified, 0) as anonymous_became_identified,
        coalesce(token_days.new_web_push_tokens, 0) as new_web_push_tokens,
        coalesce(token_days.new_app_push_tokens, 0) as new_app_push_tokens,
        coalesce(device_days.new_identified_devices, 0) as new_identified_devices,
        coalesce(device_days.new_identified_browsers, 0) as new_identified_browsers
    from days
    left join profile_days on days.kpi_date = profile_days.kpi_date
    left join identified_days on days.kpi_date = identified_days.kpi_date
    left join token_days on days.kpi_date = token_days.kpi_date
    left join device_days on days.kpi_date = device_days.kpi_date
),

cumulative as (
    select
        kpi_date,
        cast(sum(new_profiles) over (order by kpi_date) as bigint) as profiles,
        cast(sum(newly_identified) over (order by kpi_date) as bigint) as identified_profiles,
        cast(sum(new_profiles - newly_identified) over (order by kpi_date) as bigint) as anonymous_profiles,
        anonymous_became_identified,
        new_web_push_tokens,
        new_app_push_tokens,
        cast(sum(new_web_push_tokens) over (order by kpi_date) as bigint) as web_push_tokens,
        cast(sum(new_app_push_tokens) over (order by kpi_date) as bigint) as app_push_tokens,
        cast(sum(new_identified_devices) over (order by kpi_date) as bigint) as identified_devices,
        cast(sum(new_identified_browsers) over (order by kpi_date) as bigint) as identified_browsers
    from daily
),

kpis as (
    select
        kpi_date,
        profiles,
        identified_profiles,
        anonymous_profiles,
        round(identified_profiles / nullif(profiles, 0), 4) as identified_share,
        anonymous_became_identified,
        web_push_tokens,
        app_push_tokens,
        new_web_push_tokens,
        new_app_push_tokens,
        round(identified_devices / nullif(identified_profiles, 0), 3) as avg_devices_per_identified,
        round(identified_browsers / nullif(identified_profiles, 0), 3) as avg_browsers_per_identified
    from cumulative
)

select * from kpis
