-- A/B/n and control assignment of every person a campaign could reach, kept from the first run that saw them
-- (assigned_at). The variant comes from a deterministic hash of (campaign, person_id) mapped onto the buckets of
-- campaign_variants (control first), so reruns and rebuilds give the same split. Changing a campaign's shares later
-- does not move people already assigned. Erased persons are deleted.
{{ config(
    materialized='incremental',
    unique_key=['campaign', 'person_id'],
    full_refresh=false,
    post_hook="{{ delete_where(this, 'person_id in (select person_id from ' ~ ref('int_erased_persons') ~ ')') }}"
) }}
-- depends_on: {{ ref('int_erased_persons') }}

with

reachable as (
    select distinct
        campaign,
        person_id
    from {{ ref('campaign_reachable') }}
),

new_people as (
    select reachable.*
    from reachable
    {% if is_incremental() %}
        left join {{ this }} as assigned
            on reachable.campaign = assigned.campaign and reachable.person_id = assigned.person_id
        where assigned.person_id is null
    {% endif %}
),

bucketed as (
    select
        campaign,
        person_id,
        {{ hash_bucket(['campaign', 'person_id']) }} as bucket
    from new_people
),

assigned as (
    select
        bucketed.campaign,
        bucketed.person_id,
        variants.variant,
        variants.variant = 'control' as is_control,
        bucketed.bucket,
        {{ as_of() }} as assigned_at
    from bucketed
    inner join {{ ref('campaign_variants') }} as variants
        on
            bucketed.campaign = variants.campaign
            and bucketed.bucket >= variants.bucket_from
            and bucketed.bucket < variants.bucket_to
)

select * from assigned
