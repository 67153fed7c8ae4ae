{#- identify calls: the moments a browser or app install says who its user is. -#}
with

events as (
    select * from {{ ref('stg_tracking__events') }}
),

identifies as (
    select
        event_id,
        occurred_at,
        received_at,
        platform,
        anonymous_id,
        customer_id,
        device_id,
        email,
        phone,
        push_token,
        anonymous_id_raw,
        user_id_raw,
        email_raw,
        phone_raw,
        _source_file,
        _source_line,
        _loaded_at
    from events
    where event_type = 'identify'
)

select * from identifies
