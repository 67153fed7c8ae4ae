-- Tracking events with the person behind each one: the `events` collection of segment definitions and the input of
-- the cart, channel, attribution and recommendation programs. A table: a dozen models read it, and as a view each
-- of them repeated the join of all events with int_record_persons, which at 50 M events (hash tables larger than
-- memory) cost more than writing the join once (bench/bench_segments.py, docs/segments.md).
-- Rebuilt whole by the nightly build: identity merges move old events to another person. Erased persons are left
-- out.
{#- A live-lane run (var live, every few minutes) updates it in place instead (macros/incremental/live_updates.sql,
    docs/collect.md): the events loaded since the stored `_loaded_at` (staging's old row groups are skipped), and,
    only when the identity resolution merged, split or removed persons since the stored `_identity_at`, the
    stored events of those persons, with their person now. -#}
{{ config(
    materialized=('incremental' if is_live_run() else 'table'),
    unique_key='event_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}
{%- set marks = live_watermarks() -%}
{%- set updated_records = '_loaded_at > ' ~ instant_literal(marks.loaded) if marks.loaded else '' -%}
{%- if marks.moved > 0 -%}
    {%- set updated_records = updated_records ~ ' or record_id in (select moved_events.event_id from moved_events)' -%}
{%- endif %}
with

{% if marks.moved > 0 %}
moved_persons as (
    {{ moved_persons(marks.identity) }}
),

moved_events as (
    select stored.event_id
    from {{ this }} as stored
    inner join moved_persons on stored.person_id = moved_persons.person_id
),
{% endif %}

events as (
    select * from {{ ref('stg_tracking__events') }}
    {% if marks.loaded %}where _loaded_at > {{ instant_literal(marks.loaded) }}{% endif %}
    {% if marks.moved > 0 %}
        union all
        select staged.*
        from {{ ref('stg_tracking__events') }} as staged
        inner join moved_events on staged.event_id = moved_events.event_id
        {% if marks.loaded %}where staged._loaded_at <= {{ instant_literal(marks.loaded) }}{% endif %}
    {% endif %}
),

record_persons as (
    select
        record_id,
        person_id
    from {{ ref('int_record_persons') }}
    where record_source = 'events'{% if marks.loaded %} and ({{ updated_records }}){% endif %}
),

erased as (
    select person_id from {{ ref('int_erased_persons') }}
),

joined as (
    select
        events.event_id,
        record_persons.person_id,
        events.event_type,
        events.event_name,
        events.occurred_at,
        cast(events.occurred_at as date) as occurred_date,
        events.platform,
        -- Attribution only needs to know whether a visit came from another site, not the URLs themselves.
        coalesce(
            {{ dbt.split_part(dbt.split_part('events.referrer', "'//'", 2), "'/'", 1) }}
            <> {{ dbt.split_part(dbt.split_part('events.page_url', "'//'", 2), "'/'", 1) }},
            false
        ) as is_external_referrer,
        events.utm_source,
        events.utm_medium,
        events.utm_campaign,
        events.click_id,
        events.sku,
        events.category,
        events.price,
        events.quantity,
        events.cart_id,
        events.revenue,
        events.campaign_id,
        events._loaded_at,
        {{ latest_identity_event() }} as _identity_at
    from events
    inner join record_persons on events.event_id = record_persons.record_id
    left join erased on record_persons.person_id = erased.person_id
    where
        erased.person_id is null
        and events.occurred_at is not null
)

select * from joined
