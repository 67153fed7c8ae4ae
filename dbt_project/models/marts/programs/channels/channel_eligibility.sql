-- Whether each person may be contacted on each channel, one row per person and channel (erased persons are not in
-- marts.customers, so never here). email: opted in + an address that has not bounced; push: opted in + a live
-- token; sms: opted in + a phone; zalo: opted in + a Vietnamese phone; ads: opted in to ad audiences + an email
-- or phone to match on. Consent never asked counts as not given.
with

customers as (
    select * from {{ ref('customers') }}
),

bounced as (
    select distinct
        person_id,
        email
    from {{ ref('person_email_events') }}
    where event_type = 'bounced' and occurred_at <= {{ as_of() }}
),

tokens as (
    select
        person_id,
        push_token
    from {{ ref('person_push_tokens') }}
    where token_rank = 1
),

email as (
    select
        customers.person_id,
        'email' as channel,
        customers.email as address,
        case
            when not customers.consent_email then 'no_consent'
            when customers.email is null then 'no_address'
            when bounced.email is not null then 'bounced'
        end as ineligible_reason
    from customers
    left join bounced on customers.person_id = bounced.person_id and customers.email = bounced.email
),

push as (
    select
        customers.person_id,
        'push' as channel,
        tokens.push_token as address,
        case
            when not customers.consent_push then 'no_consent'
            when tokens.push_token is null then 'no_live_token'
        end as ineligible_reason
    from customers
    left join tokens on customers.person_id = tokens.person_id
),

sms as (
    select
        person_id,
        'sms' as channel,
        phone as address,
        case
            when not consent_sms then 'no_consent'
            when phone is null then 'no_address'
        end as ineligible_reason
    from customers
),

zalo as (
    select
        person_id,
        'zalo' as channel,
        phone as address,
        case
            when not consent_zalo then 'no_consent'
            when phone is null then 'no_address'
            when phone not like '+84%' then 'not_a_vietnamese_phone'
        end as ineligible_reason
    from customers
),

ads as (
    select
        person_id,
        'ads' as channel,
        coalesce(email, phone) as address,
        case
            when not consent_ads then 'no_consent'
            when email is null and phone is null then 'no_address'
        end as ineligible_reason
    from customers
),

unioned as (
    select * from email
    union all
    select * from push
    union all
    select * from sms
    union all
    select * from zalo
    union all
    select * from ads
)

select
    person_id,
    channel,
    ineligible_reason is null as is_eligible,
    ineligible_reason,
    case when ineligible_reason is null then address end as address
from unioned
