with

source as (
    select * from {{ source('chat', 'chat_conversations') }}
),

latest as (
    -- A conversation is re-exported while it goes on: the version with the latest message wins.
    {%- set last_message_at = source_timestamp('last_message_at', 'chat_conversations') %}
    {{ latest_versions('source', ['trim(conversation_id)'], newest_first=[last_message_at]) }}
),

typed as (
    select
        trim(conversation_id) as conversation_id,
        {{ clean_enum('platform') }} as platform,
        {{ normalize_identifier('platform_user_id', 'platform_user_id') }} as platform_user_id,
        {{ normalize_identifier('anonymous_id', 'anonymous_id') }} as anonymous_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ source_timestamp('started_at', 'chat_conversations') }} as started_at,
        {{ source_timestamp('last_message_at', 'chat_conversations') }} as last_message_at,
        {{ to_integer('customer_messages') }} as customer_messages,
        {{ to_integer('agent_messages') }} as agent_messages,
        {{ clean_enum('topic') }} as topic,
        platform_user_id as platform_user_id_raw,
        anonymous_id as anonymous_id_raw,
        email as email_raw,
        phone as phone_raw,
        _source_file,
        _source_line,
        _loaded_at
    from latest
),

keyed as (
    select
        *,
        -- A platform user id is only unique within its platform: 'zalo:8412...' is the identity key.
        case when platform_user_id is not null then platform || ':' || platform_user_id end as platform_user_key
    from typed
)

select * from keyed
