-- The customer 360 profile: one row per person (erased persons excluded). Attributes follow survivorship
-- rules: the most trusted source wins (CRM, then orders, then store POS, then app/web identify calls, then
-- support and chat), and within a source the most recent value. Consent per channel is the most recent
-- explicit choice across all the person's identifiers (CRM flags, consent changes, email unsubscribes).
{%- set attributes = ['customer_id', 'email', 'phone', 'first_name', 'last_name', 'gender', 'birthday', 'city',
                      'country', 'loyalty_card_id'] %}
{%- set consent_channels = ['email', 'sms', 'zalo', 'push', 'ads'] %}
with person_map as (
    select * from {{ source('identity', 'identifier_person_map') }}
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
),

erased as (
    select * from {{ ref('int_erased_persons') }}
),

crm as (
    select
        record_persons.person_id,
        contacts.*
    from {{ ref('stg_crm__contacts') }} as contacts
    inner join record_persons
        on record_persons.record_source = 'crm' and contacts.customer_id = record_persons.record_id
),

orders as (
    select
        record_persons.person_id,
        orders.*
    from {{ ref('stg_shop__orders') }} as orders
    inner join record_persons
        on record_persons.record_source = 'orders' and orders.order_id = record_persons.record_id
),

pos as (
    select
        record_persons.person_id,
        pos.*
    from {{ ref('stg_pos__transactions') }} as pos
    inner join record_persons
        on record_persons.record_source = 'pos' and pos.transaction_id = record_persons.record_id
),

identifies as (
    select
        record_persons.person_id,
        identifies.*
    from {{ ref('stg_tracking__identifies') }} as identifies
    inner join record_persons
        on record_persons.record_source = 'events' and identifies.event_id = record_persons.record_id
),

tickets as (
    select
        record_persons.person_id,
        tickets.*
    from {{ ref('stg_support__tickets') }} as tickets
    inner join record_persons
        on record_persons.record_source = 'support' and tickets.ticket_id = record_persons.record_id
),

chats as (
    select
        record_persons.person_id,
        chats.*
    from {{ ref('stg_chat__conversations') }} as chats
    inner join record_persons
        on record_persons.record_source = 'chat' and chats.conversation_id = record_persons.record_id
),

-- One row per (person, attribute, value) candidate with its source trust (1 = most trusted).
candidates as (
    {%- for attribute in attributes %}
    select
        person_id,
        '{{ attribute }}' as attribute,
        cast({{ attribute }} as varchar) as attribute_value,
        1 as trust_rank,
        coalesce(updated_at, created_at) as observed_at
    from crm
    where {{ attribute }} is not null
    union all
    {%- endfor %}
    {%- for attribute, column in [('customer_id', 'customer_id'), ('email', 'email'), ('phone', 'phone'),
                                  ('city', 'shipping_city')] %}
    select
        person_id,
        '{{ attribute }}' as attribute,
        cast({{ column }} as varchar) as attribute_value,
        2 as trust_rank,
        created_at as observed_at
    from orders
    where {{ column }} is not null
    union all
    {%- endfor %}
    {%- for attribute in ['customer_id', 'phone', 'loyalty_card_id'] %}
    select
        person_id,
        '{{ attribute }}' as attribute,
        cast({{ attribute }} as varchar) as attribute_value,
        3 as trust_rank,
        transacted_at as observed_at
    from pos
    where {{ attribute }} is not null
    union all
    {%- endfor %}
    {%- for attribute in ['customer_id', 'email', 'phone'] %}
    select
        person_id,
        '{{ attribute }}' as attribute,
        cast({{ attribute }} as varchar) as attribute_value,
        4 as trust_rank,
        occurred_at as observed_at
    from identifies
    where {{ attribute }} is not null
    union all
    {%- endfor %}
    {%- for attribute in ['email', 'phone'] %}
    select
        person_id,
        '{{ attribute }}' as attribute,
        cast({{ attribute }} as varchar) as attribute_value,
        5 as trust_rank,
        created_at as observed_at
    from tickets
    where {{ attribute }} is not null
    union all
    select
        person_id,
        '{{ attribute }}' as attribute,
        cast({{ attribute }} as varchar) as attribute_value,
        6 as trust_rank,
        started_at as observed_at
    from chats
    where {{ attribute }} is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

survivors as (
    select
        person_id,
        attribute,
        attribute_value,
        row_number() over (
            partition by person_id, attribute
            order by trust_rank, observed_at desc, attribute_value
        ) as survivor_rank
    from candidates
),

golden as (
    select
        person_id,
        {%- for attribute in attributes %}
        max(case when attribute = '{{ attribute }}' then attribute_value end) as {{ attribute }}{{ "," if not loop.last }}
        {%- endfor %}
    from survivors
    where survivor_rank = 1
    group by person_id
),

-- Explicit consent choices from every source, per person and channel.
consent_choices as (
    {%- for channel in consent_channels %}
    select
        person_id,
        '{{ channel }}' as channel,
        consent_{{ channel }} as is_granted,
        coalesce(updated_at, created_at) as chosen_at
    from crm
    where consent_{{ channel }} is not null
    union all
    {%- endfor %}
    select
        record_persons.person_id,
        changes.channel,
        changes.is_granted,
        changes.changed_at as chosen_at
    from {{ ref('stg_privacy__consent_changes') }} as changes
    inner join record_persons
        on record_persons.record_source = 'consent' and changes.change_id = record_persons.record_id
    union all
    select
        record_persons.person_id,
        'email' as channel,
        false as is_granted,
        email_events.occurred_at as chosen_at
    from {{ ref('stg_esp__email_events') }} as email_events
    inner join record_persons
        on record_persons.record_source = 'email_events' and email_events.event_id = record_persons.record_id
    where email_events.event_type = 'unsubscribed'
),

latest_consent as (
    select
        person_id,
        channel,
        is_granted,
        row_number() over (
            partition by person_id, channel
            -- On a tie, a withdrawal wins over a grant: never message on an ambiguous choice.
            order by chosen_at desc, case when is_granted then 1 else 0 end
        ) as choice_rank
    from consent_choices
),

consent as (
    select
        person_id,
        {%- for channel in consent_channels %}
        coalesce(bool_or(case when channel = '{{ channel }}' then is_granted end), false)
            as consent_{{ channel }}{{ "," if not loop.last }}
        {%- endfor %}
    from latest_consent
    where choice_rank = 1
    group by person_id
),

identifier_stats as (
    select
        person_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(case when identifier_type in ('customer_id', 'email', 'phone', 'loyalty_card') then first_seen_at end)
            as identified_at,
        count(distinct case when identifier_type = 'push_token' then identifier_value end) as n_push_tokens
    from person_map
    group by person_id
),

event_persons as (
    select
        record_persons.person_id,
        events.platform,
        events.anonymous_id,
        events.device_id
    from {{ ref('stg_tracking__events') }} as events
    inner join record_persons
        on record_persons.record_source = 'events' and events.event_id = record_persons.record_id
),

devices as (
    select
        person_id,
        count(distinct case when platform in ('ios', 'android') then device_id end) as n_devices,
        count(distinct case when platform = 'web' then anonymous_id end) as n_browsers
    from event_persons
    group by person_id
),

push_tokens as (
    select
        person_map.person_id,
        count(distinct case when tokens.platform = 'web' then tokens.push_token end) as web_push_tokens,
        count(distinct case when tokens.platform in ('ios', 'android') then tokens.push_token end)
            as app_push_tokens,
        count(distinct case when dead.token is null then tokens.push_token end) as valid_push_tokens
    from {{ ref('stg_tracking__push_tokens') }} as tokens
    inner join person_map
        on person_map.identifier_type = 'push_token' and tokens.push_token = person_map.identifier_value
    left join {{ source('sync', 'dead_push_tokens') }} as dead
        on tokens.push_token = dead.token
    group by person_map.person_id
),

loyalty as (
    select
        person_id,
        bool_or(coalesce(loyalty_member, false)) as is_loyalty_member,
        min(loyalty_joined_at) as loyalty_joined_at,
        min(created_at) as crm_created_at,
        max(referred_by_customer_id) as referred_by_customer_id
    from crm
    group by person_id
),

profiles as (
    select
        identifier_stats.person_id,
        identifier_stats.identified_at is not null as is_identified,
        golden.customer_id,
        golden.email,
        golden.phone,
        golden.first_name,
        golden.last_name,
        nullif(trim(concat_ws(' ', golden.last_name, golden.first_name)), '') as full_name,
        golden.gender,
        cast(golden.birthday as date) as birthday,
        golden.city,
        golden.country,
        loyalty.crm_created_at as created_at,
        coalesce(loyalty.is_loyalty_member, false) as is_loyalty_member,
        golden.loyalty_card_id,
        loyalty.loyalty_joined_at,
        -- An erased referrer leaves no trace in the profile of the person they referred.
        case when referrer.person_id not in (select erased.person_id from erased) then referrer.person_id end
            as referred_by_person_id,
        identifier_stats.first_seen_at,
        identifier_stats.last_seen_at,
        identifier_stats.identified_at,
        coalesce(devices.n_devices, 0) as n_devices,
        coalesce(devices.n_browsers, 0) as n_browsers,
        coalesce(push_tokens.web_push_tokens, 0) as web_push_tokens,
        coalesce(push_tokens.app_push_tokens, 0) as app_push_tokens,
        coalesce(push_tokens.valid_push_tokens, 0) > 0 as has_valid_push_token,
        {%- for channel in consent_channels %}
        coalesce(consent.consent_{{ channel }}, false) as consent_{{ channel }}{{ "," if not loop.last }}
        {%- endfor %}
    from identifier_stats
    left join golden on identifier_stats.person_id = golden.person_id
    left join consent on identifier_stats.person_id = consent.person_id
    left join devices on identifier_stats.person_id = devices.person_id
    left join push_tokens on identifier_stats.person_id = push_tokens.person_id
    left join loyalty on identifier_stats.person_id = loyalty.person_id
    left join person_map as referrer
        on
            referrer.identifier_type = 'customer_id'
            and loyalty.referred_by_customer_id = referrer.identifier_value
    where identifier_stats.person_id not in (select erased.person_id from erased)
)

select * from profiles
