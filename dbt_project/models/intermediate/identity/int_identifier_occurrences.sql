{#- Every normalized identifier carried by every record, one row per (record_source, record_id, identifier_type,
    identifier_value). Identifiers are normalized in staging (sen.normalize), so junk never gets here. Each
    source contributes one row per record with one column per identifier type, then one unpivot (a cross join
    with the type list, a single scan of each source) turns the columns into rows. -#}
{#- Incremental (docs/incremental.md): each source contributes only the records loaded since the last run (its
    staging `_loaded_at`, kept here as the watermark); a record seen again replaces all its rows and keeps its
    `_first_loaded_at`, the load that first brought it here. The identity graph adds the occurrences of records
    first loaded since its last run to its figures, and recomputes those of records seen again. -#}
{{ config(
    materialized='incremental',
    unique_key=['record_source', 'record_id'],
    tags=['event_sized'],
) }}
with

events as (
    select * from {{ ref('stg_tracking__events') }}
    where {{ incremental_batch('occurred_at', watermark_where="record_source = 'events'") }}
),

crm_contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    where {{ incremental_batch('created_at', watermark_where="record_source = 'crm'") }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
    where {{ incremental_batch('created_at', watermark_where="record_source = 'orders'") }}
),

pos_transactions as (
    select * from {{ ref('stg_pos__transactions') }}
    where {{ incremental_batch('transacted_at', watermark_where="record_source = 'pos'") }}
),

chat_conversations as (
    select * from {{ ref('stg_chat__conversations') }}
    where {{ incremental_batch('started_at', watermark_where="record_source = 'chat'") }}
),

support_tickets as (
    select * from {{ ref('stg_support__tickets') }}
    where {{ incremental_batch('created_at', watermark_where="record_source = 'support'") }}
),

survey_responses as (
    select * from {{ ref('stg_surveys__responses') }}
    where {{ incremental_batch('responded_at', watermark_where="record_source = 'surveys'") }}
),

consent_changes as (
    select * from {{ ref('stg_privacy__consent_changes') }}
    where {{ incremental_batch('changed_at', watermark_where="record_source = 'consent'") }}
),

erasure_requests as (
    select * from {{ ref('stg_privacy__erasure_requests') }}
    where {{ incremental_batch('requested_at', watermark_where="record_source = 'erasure'") }}
),

email_events as (
    select * from {{ ref('stg_esp__email_events') }}
    where {{ incremental_batch('occurred_at', watermark_where="record_source = 'email_events'") }}
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
        cast(null as {{ dbt.type_string() }}) as platform_user_id,
        _loaded_at
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
        null as platform_user_id,
        _loaded_at
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
        null as platform_user_id,
        _loaded_at
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
        null as platform_user_id,
        _loaded_at
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
        platform_user_key as platform_user_id,
        _loaded_at
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
        null as platform_user_id,
        _loaded_at
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
        null as platform_user_id,
        _loaded_at
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
        null as platform_user_id,
        _loaded_at
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
        null as platform_user_id,
        _loaded_at
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
        null as platform_user_id,
        _loaded_at
    from email_events
),

-- One row per identifier type of sen/normalize/rules.py (macro generated from it).
identifier_types as (
    {{ identifier_type_rows() }}
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
        records.observed_at,
        records._loaded_at
    from records
    cross join identifier_types
),

occurrences as (
    select
        record_source,
        record_id,
        identifier_type,
        identifier_value,
        observed_at,
        _loaded_at
    from unpivoted
    where identifier_value is not null
)

{%- if is_incremental() %},

-- Records of this batch already stored (seen again, or recomputed for the partition window): their first load.
seen_before as (
    select
        stored.record_source,
        stored.record_id,
        min(stored._first_loaded_at) as _first_loaded_at
    from {{ this }} as stored
    where exists (
        select 1 from occurrences
        where occurrences.record_source = stored.record_source and occurrences.record_id = stored.record_id
    )
    group by stored.record_source, stored.record_id
)
{%- endif %}

select
    occurrences.*,
    {{ 'coalesce(seen_before._first_loaded_at, occurrences._loaded_at)' if is_incremental()
        else 'occurrences._loaded_at' }} as _first_loaded_at
from occurrences
{%- if is_incremental() %}
left join seen_before
    on occurrences.record_source = seen_before.record_source and occurrences.record_id = seen_before.record_id
{%- endif %}
