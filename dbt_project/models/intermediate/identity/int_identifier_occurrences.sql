{#- Every normalized identifier carried by every record, one row per (record_source, record_id, identifier_type,
    identifier_value). Identifiers are normalized in staging (sen.normalize), so junk never gets here. Each
    source contributes one row per record with one column per identifier type, then one unpivot (a cross join
    with the type list, a single scan of each source) turns the columns into rows. -#}
with

events as (
    select * from {{ ref('stg_tracking__events') }}
),

crm_contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

pos_transactions as (
    select * from {{ ref('stg_pos__transactions') }}
),

chat_conversations as (
    select * from {{ ref('stg_chat__conversations') }}
),

support_tickets as (
    select * from {{ ref('stg_support__tickets') }}
),

survey_responses as (
    select * from {{ ref('stg_surveys__responses') }}
),

consent_changes as (
    select * from {{ ref('stg_privacy__consent_changes') }}
),

erasure_requests as (
    select * from {{ ref('stg_privacy__erasure_requests') }}
),

email_events as (
    select * from {{ ref('stg_esp__email_events') }}
),

records as (
    select
        'events' as record_source,
        event_id as record_id,
        occurred_at as observed_at,
        customer_id,
        email,
        phone,
        cast(null as {{ dbt.type_string() }}) as loyalty_card,
        anonymous_id,
        device_id,
        push_token,
        cast(null as {{ dbt.type_string() }}) as platform_user_id
    from events

    union all

    select
        'crm' as record_source,
        customer_id as record_id,
        -- The account's identifiers date from its creation; later edits do not make it a newer person.
        created_at as observed_at,
        customer_id,
        email,
        phone,
        loyalty_card_id as loyalty_card,
        null as anonymous_id,
        null as device_id,
        null as push_token,
        null as platform_user_id
    from crm_contacts

    union all

    select
        'orders' as record_source,
        order_id as record_id,
        created_at as observed_at,
        customer_id,
        email,
        phone,
        null as loyalty_card,
        anonymous_id,
        null as device_id,
        null as push_token,
        null as platform_user_id
    from orders
    -- Staff test orders reuse a handful of identifiers and would glue unrelated people together.
    where not is_test

    union all

    select
        'pos' as record_source,
        transaction_id as record_id,
        transacted_at as observed_at,
        customer_id,
        null as email,
        phone,
        loyalty_card_id as loyalty_card,
        null as anonymous_id,
        null as device_id,
        null as push_token,
        null as platform_user_id
    from pos_transactions

    union all

    select
        'chat' as record_source,
        conversation_id as record_id,
        started_at as observed_at,
        null as customer_id,
        email,
        phone,
        null as loyalty_card,
        anonymous_id,
        null as device_id,
        null as push_token,
        -- Qualified by platform ('zalo:123'): ids of different platforms are different people.
        platform_user_key as platform_user_id
    from chat_conversations

    union all

    select
        'support' as record_source,
        ticket_id as record_id,
        created_at as observed_at,
        customer_id,
        email,
        phone,
        null as loyalty_card,
        null as anonymous_id,
        null as device_id,
        null as push_token,
        null as platform_user_id
    from support_tickets

    union all

    select
        'surveys' as record_source,
        response_id as record_id,
        responded_at as observed_at,
        customer_id,
        email,
        null as phone,
        null as loyalty_card,
        null as anonymous_id,
        null as device_id,
        null as push_token,
        null as platform_user_id
    from survey_responses

    union all

    select
        'consent' as record_source,
        change_id as record_id,
        changed_at as observed_at,
        customer_id,
        email,
        phone,
        null as loyalty_card,
        null as anonymous_id,
        null as device_id,
        null as push_token,
        null as platform_user_id
    from consent_changes

    union all

    -- Erasure requests are nodes (so the person can be found) but never edges: see int_identity_edges.
    select
        'erasure' as record_source,
        request_id as record_id,
        requested_at as observed_at,
        customer_id,
        email,
        phone,
        null as loyalty_card,
        null as anonymous_id,
        null as device_id,
        null as push_token,
        null as platform_user_id
    from erasure_requests

    union all

    select
        'email_events' as record_source,
        event_id as record_id,
        occurred_at as observed_at,
        null as customer_id,
        email,
        null as phone,
        null as loyalty_card,
        null as anonymous_id,
        null as device_id,
        null as push_token,
        null as platform_user_id
    from email_events
),

identifier_types as (
    select 'customer_id' as identifier_type
    union all
    select 'email' as identifier_type
    union all
    select 'phone' as identifier_type
    union all
    select 'loyalty_card' as identifier_type
    union all
    select 'anonymous_id' as identifier_type
    union all
    select 'device_id' as identifier_type
    union all
    select 'push_token' as identifier_type
    union all
    select 'platform_user_id' as identifier_type
),

unpivoted as (
    select
        records.record_source,
        records.record_id,
        identifier_types.identifier_type,
        case identifier_types.identifier_type
            when 'customer_id' then records.customer_id
            when 'email' then records.email
            when 'phone' then records.phone
            when 'loyalty_card' then records.loyalty_card
            when 'anonymous_id' then records.anonymous_id
            when 'device_id' then records.device_id
            when 'push_token' then records.push_token
            when 'platform_user_id' then records.platform_user_id
        end as identifier_value,
        records.observed_at
    from records
    cross join identifier_types
),

occurrences as (
    select
        record_source,
        record_id,
        identifier_type,
        identifier_value,
        observed_at
    from unpivoted
    where identifier_value is not null
)

select * from occurrences
