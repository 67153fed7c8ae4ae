-- Fails when a person with an erasure request appears in a segment, program, campaign or attribution mart.
with

erased as (
    select person_id from {{ ref('int_erased_persons') }}
),

found as (
    select
        'person_events' as model_name,
        person_id
    from {{ ref('person_events') }}
    union all
    select
        'person_email_events' as model_name,
        person_id
    from {{ ref('person_email_events') }}
    union all
    select
        'abandoned_cart_items' as model_name,
        person_id
    from {{ ref('abandoned_cart_items') }}
    union all
    select
        'cart_abandonment' as model_name,
        person_id
    from {{ ref('cart_abandonment') }}
    union all
    select
        'calendar_moments' as model_name,
        person_id
    from {{ ref('calendar_moments') }}
    union all
    select
        'replenishment_due' as model_name,
        person_id
    from {{ ref('replenishment_due') }}
    union all
    select
        'recent_purchases' as model_name,
        person_id
    from {{ ref('recent_purchases') }}
    union all
    select
        'category_affinity' as model_name,
        person_id
    from {{ ref('category_affinity') }}
    union all
    select
        'next_best_products' as model_name,
        person_id
    from {{ ref('next_best_products') }}
    union all
    select
        'service_recovery' as model_name,
        person_id
    from {{ ref('service_recovery') }}
    union all
    select
        'person_push_tokens' as model_name,
        person_id
    from {{ ref('person_push_tokens') }}
    union all
    select
        'channel_eligibility' as model_name,
        person_id
    from {{ ref('channel_eligibility') }}
    union all
    select
        'channel_engagement' as model_name,
        person_id
    from {{ ref('channel_engagement') }}
    union all
    select
        'best_channel' as model_name,
        person_id
    from {{ ref('best_channel') }}
    union all
    select
        'segment_members_current' as model_name,
        person_id
    from {{ ref('segment_members_current') }}
    union all
    select
        'segment_memberships' as model_name,
        person_id
    from {{ ref('segment_memberships') }}
    union all
    select
        'campaign_assignments' as model_name,
        person_id
    from {{ ref('campaign_assignments') }}
    union all
    select
        'campaign_deliveries' as model_name,
        person_id
    from {{ ref('campaign_deliveries') }}
    union all
    select
        'attribution_touches' as model_name,
        person_id
    from {{ ref('attribution_touches') }}
    union all
    select
        'attribution_credits' as model_name,
        person_id
    from {{ ref('attribution_credits') }}
)

select
    found.model_name,
    found.person_id
from found
inner join erased on found.person_id = erased.person_id
