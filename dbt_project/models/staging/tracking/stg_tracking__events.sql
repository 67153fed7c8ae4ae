{#- Segment-spec tracking events (web analytics.js and the mobile SDKs), one row per messageId.
    Materialized, unlike the other staging models: it is the largest source, JSON parsing and identifier normalization
    (Python UDFs) are its main cost, and four models read it. -#}
{#- Incremental (docs/incremental.md): a run parses only the raw rows loaded since the last run (plus a partition
    window, if given); a message loaded again replaces the stored one by event_id, as the latest load wins. -#}
{{ config(
    materialized='incremental',
    unique_key='event_id',
    tags=['event_sized'],
) }}

with

source as (
    select * from {{ source('tracking', 'events') }}
    where {{ incremental_batch(source_timestamp('timestamp', 'events')) }}
),

latest as (
    -- SDK retries deliver one message several times: one row per messageId, the latest load wins.
    {{ latest_versions('source', ['trim(message_id)']) }}
),

parsed as (
    -- Each JSON document is parsed once into a struct of the fields used below.
    select
        *,
        {{ json_struct('context', [
            'device.id', 'device.type', 'device.token', 'library.name', 'os.name', 'page.url', 'page.path',
            'page.referrer', 'campaign.source', 'campaign.medium', 'campaign.name', 'campaign.content',
            'campaign.term', 'ip', 'userAgent', 'traits.email', 'traits.phone', 'consent.categoryPreferences',
        ]) }} as ctx,
        {{ json_struct('properties', [
            'url', 'path', 'referrer', 'sku', 'product_id', 'category', 'price', 'quantity', 'cart_id',
            'order_id', 'revenue', 'total', 'currency', 'push_token', 'token', 'push_platform', 'platform',
            'campaign_id', 'store_id', 'query', 'search_query',
        ]) }} as props,
        {{ json_struct('traits', ['email', 'phone']) }} as trt
    from latest
),

-- Read by the six identifier lookups below: computed once.
extracted as {{ materialized_cte() }} (
    select
        trim(parsed.message_id) as event_id,
        {{ clean_enum('parsed.type') }} as event_type,
        {{ clean_text('parsed.event') }} as track_event,
        {{ clean_text('parsed.name') }} as page_name,
        {{ source_timestamp('parsed.timestamp', 'events') }} as occurred_at,
        {{ source_timestamp('parsed.sent_at', 'events') }} as sent_at,
        {{ source_timestamp('parsed.received_at', 'events') }} as received_at,
        parsed.anonymous_id as anonymous_id_raw,
        parsed.user_id as user_id_raw,
        parsed.ctx.device.id as device_id_raw,
        {{ clean_enum('parsed.ctx.device.type') }} as device_type,
        {{ clean_enum('parsed.ctx.library.name') }} as library_name,
        {{ clean_enum('parsed.ctx.os.name') }} as os_name,
        {{ clean_text('coalesce(parsed.ctx.page.url, parsed.props.url)') }} as page_url,
        {{ clean_text('coalesce(parsed.ctx.page.path, parsed.props.path)') }} as page_path_reported,
        {{ clean_text('coalesce(parsed.ctx.page.referrer, parsed.props.referrer)') }} as referrer,
        {{ clean_text('parsed.ctx.campaign.source') }} as campaign_source,
        {{ clean_text('parsed.ctx.campaign.medium') }} as campaign_medium,
        {{ clean_text('parsed.ctx.campaign.name') }} as campaign_name,
        {{ clean_text('parsed.ctx.campaign.content') }} as campaign_content,
        {{ clean_text('parsed.ctx.campaign.term') }} as campaign_term,
        {{ clean_text('parsed.ctx.ip') }} as ip,
        {{ clean_text('parsed.ctx.userAgent') }} as user_agent,
        {{ clean_code('coalesce(parsed.props.sku, parsed.props.product_id)') }} as sku,
        {{ clean_enum('parsed.props.category') }} as category,
        {{ to_decimal('parsed.props.price') }} as price,
        {{ to_integer('parsed.props.quantity') }} as quantity,
        {{ clean_text('parsed.props.cart_id') }} as cart_id,
        {{ clean_text('parsed.props.order_id') }} as order_id,
        {{ to_decimal('coalesce(parsed.props.revenue, parsed.props.total)') }} as revenue,
        {{ clean_code('parsed.props.currency') }} as currency_reported,
        -- Segment puts the push token in context.device.token; a registration event carries it in properties.
        coalesce(parsed.props.push_token, parsed.props.token, parsed.ctx.device.token) as push_token_raw,
        {{ clean_enum('coalesce(parsed.props.push_platform, parsed.props.platform)') }} as push_platform_reported,
        {{ clean_text('parsed.props.campaign_id') }} as campaign_id,
        {{ clean_code('parsed.props.store_id') }} as store_id,
        {{ clean_text('coalesce(parsed.props.query, parsed.props.search_query)') }} as search_query,
        -- identify calls carry traits at the top level; other calls may repeat them in context.traits.
        coalesce(parsed.trt.email, parsed.ctx.traits.email) as email_raw,
        coalesce(parsed.trt.phone, parsed.ctx.traits.phone) as phone_raw,
        -- Consent the client sent with the event (JSON text), read by int_event_consent_choices.
        {{ clean_text('parsed.ctx.consent.categoryPreferences') }} as consent_preferences,
        parsed._source_file,
        parsed._source_line,
        parsed._loaded_at
    from parsed
),

anonymous_ids as (
    {{ identifier_lookup('extracted', 'anonymous_id_raw', 'anonymous_id') }}
),

customer_ids as (
    {{ identifier_lookup('extracted', 'user_id_raw', 'customer_id') }}
),

device_ids as (
    {{ identifier_lookup('extracted', 'device_id_raw', 'device_id') }}
),

push_tokens as (
    {{ identifier_lookup('extracted', 'push_token_raw', 'push_token') }}
),

emails as (
    {{ identifier_lookup('extracted', 'email_raw', 'email') }}
),

phones as (
    {{ identifier_lookup('extracted', 'phone_raw', 'phone') }}
),

normalized as (
    select
        extracted.*,
        anonymous_ids.normalized_value as anonymous_id,
        customer_ids.normalized_value as customer_id,
        device_ids.normalized_value as device_id,
        push_tokens.normalized_value as push_token,
        emails.normalized_value as email,
        phones.normalized_value as phone
    from extracted
    left join anonymous_ids
        on extracted.anonymous_id_raw = anonymous_ids.raw_value
    left join customer_ids
        on extracted.user_id_raw = customer_ids.raw_value
    left join device_ids
        on extracted.device_id_raw = device_ids.raw_value
    left join push_tokens
        on extracted.push_token_raw = push_tokens.raw_value
    left join emails
        on extracted.email_raw = emails.raw_value
    left join phones
        on extracted.phone_raw = phones.raw_value
),

typed as (
    select
        event_id,
        event_type,
        case when event_type = 'track' then track_event else event_type end as event_name,
        page_name,
        occurred_at,
        sent_at,
        received_at,
        anonymous_id,
        customer_id,
        device_id,
        device_type,
        case
            when library_name like '%ios%' or device_type = 'ios' or os_name in ('ios', 'ipados') then 'ios'
            when library_name like '%android%' or device_type = 'android' or os_name = 'android' then 'android'
            when library_name like 'analytics.js%' or library_name like '%web%' or page_url is not null then 'web'
        end as platform,
        page_url,
        coalesce(page_path_reported, {{ url_path('page_url') }}) as page_path,
        referrer,
        coalesce(campaign_source, {{ url_query_param('page_url', 'utm_source') }}) as utm_source,
        coalesce(campaign_medium, {{ url_query_param('page_url', 'utm_medium') }}) as utm_medium,
        coalesce(campaign_name, {{ url_query_param('page_url', 'utm_campaign') }}) as utm_campaign,
        coalesce(campaign_content, {{ url_query_param('page_url', 'utm_content') }}) as utm_content,
        coalesce(campaign_term, {{ url_query_param('page_url', 'utm_term') }}) as utm_term,
        {{ url_query_param('page_url', 'fbclid') }} as fbclid,
        {{ url_query_param('page_url', 'gclid') }} as gclid,
        {{ url_query_param('page_url', 'ttclid') }} as ttclid,
        ip,
        user_agent,
        sku,
        category,
        price,
        quantity,
        cart_id,
        order_id,
        revenue,
        -- Only events that carry an amount have a currency.
        case
            when price is not null or revenue is not null
                then coalesce(currency_reported, '{{ var("default_currency", "VND") }}')
        end as currency,
        push_token,
        push_platform_reported,
        campaign_id,
        store_id,
        search_query,
        email,
        phone,
        anonymous_id_raw,
        user_id_raw,
        device_id_raw,
        push_token_raw,
        email_raw,
        phone_raw,
        consent_preferences,
        _source_file,
        _source_line,
        _loaded_at
    from normalized
),

enriched as (
    select
        event_id,
        event_type,
        event_name,
        page_name,
        occurred_at,
        sent_at,
        received_at,
        anonymous_id,
        customer_id,
        device_id,
        device_type,
        platform,
        page_url,
        page_path,
        referrer,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_content,
        utm_term,
        coalesce(gclid, fbclid, ttclid) as click_id,
        case
            when gclid is not null then 'gclid'
            when fbclid is not null then 'fbclid'
            when ttclid is not null then 'ttclid'
        end as click_id_type,
        ip,
        user_agent,
        sku,
        category,
        price,
        quantity,
        cart_id,
        order_id,
        revenue,
        currency,
        push_token,
        -- APNs tokens are iOS; FCM serves Android and web push, told apart by the event's platform.
        case
            when push_token is null then null
            when push_platform_reported in ('ios', 'apns') then 'ios'
            when push_platform_reported in ('web', 'webpush', 'web_push') then 'web'
            when push_platform_reported = 'android' then 'android'
            when push_platform_reported in ('fcm', 'gcm') and platform = 'web' then 'web'
            when push_platform_reported in ('fcm', 'gcm') then 'android'
            else platform
        end as push_platform,
        campaign_id,
        store_id,
        search_query,
        email,
        phone,
        anonymous_id_raw,
        user_id_raw,
        device_id_raw,
        push_token_raw,
        email_raw,
        phone_raw,
        consent_preferences,
        _source_file,
        _source_line,
        _loaded_at
    from typed
)

select * from enriched
