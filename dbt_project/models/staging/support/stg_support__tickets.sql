with

source as (
    select * from {{ source('support', 'support_tickets') }}
),

latest as (
    -- Tickets are re-exported as they progress: the latest export carries the current status.
    {%- set resolved_at = source_timestamp('resolved_at', 'support_tickets') %}
    {{ latest_versions('source', ['trim(ticket_id)'], newest_first=[resolved_at]) }}
),

typed as (
    select
        trim(ticket_id) as ticket_id,
        {{ normalize_identifier('customer_id', 'customer_id') }} as customer_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ clean_text('order_id') }} as order_id,
        {{ clean_enum('channel') }} as channel,
        {{ clean_enum('category') }} as category,
        {{ clean_enum('status') }} as status,
        {{ clean_enum('priority') }} as priority,
        {{ source_timestamp('created_at', 'support_tickets') }} as created_at,
        {{ source_timestamp('resolved_at', 'support_tickets') }} as resolved_at,
        customer_id as customer_id_raw,
        email as email_raw,
        phone as phone_raw,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
