{#- Push tokens seen in tracking, one row per token. The install (platform, anonymous_id, device_id) is the one of
    the latest sighting; customer_id is the latest logged-in user of the token, so a logged-out app open does
    not orphan it. -#}
with

events as (
    select * from {{ ref('stg_tracking__events') }}
),

sightings as (
    select
        push_token,
        push_platform,
        anonymous_id,
        customer_id,
        device_id,
        occurred_at,
        event_id
    from events
    where push_token is not null
),

ranked as (
    select
        *,
        row_number() over (partition by push_token order by occurred_at desc, event_id desc) as recency_rank,
        min(occurred_at) over (partition by push_token) as first_registered_at,
        count(*) over (partition by push_token) as n_sightings
    from sightings
),

customer_ranked as (
    select
        push_token,
        customer_id,
        row_number() over (partition by push_token order by occurred_at desc, event_id desc) as recency_rank
    from sightings
    where customer_id is not null
),

latest_customer as (
    select
        push_token,
        customer_id
    from customer_ranked
    where recency_rank = 1
),

tokens as (
    select
        ranked.push_token,
        ranked.push_platform as platform,
        ranked.anonymous_id,
        latest_customer.customer_id,
        ranked.device_id,
        ranked.first_registered_at,
        ranked.occurred_at as registered_at,
        ranked.n_sightings,
        ranked.event_id as last_event_id
    from ranked
    left join latest_customer
        on ranked.push_token = latest_customer.push_token
    where ranked.recency_rank = 1
)

select * from tokens
