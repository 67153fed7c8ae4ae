-- Tracking events with the person behind each one: the `events` collection of segment definitions and the input of
-- the cart, channel, attribution and recommendation programs. A table: a dozen models read it, and as a view each
-- of them repeated the join of all events with int_record_persons, which at 50 M events (hash tables larger than
-- memory) cost more than writing the join once (bench/bench_segments.py, docs/segments.md).
-- Rebuilt whole by the nightly build: identity merges move old events to another person. Erased persons are left
-- out.
{#- A live-lane run (var live, every few minutes) updates it in place instead (docs/collect.md): the events whose
    int_record_persons row was written since this model's last build (`_mapped_at`): the new events, read from
    the staging rows loaded since the stored `_loaded_at` (the old row groups are skipped), and, only when the
    identity resolution moved some, older events to their new person (these are looked up in all of staging). -#}
{%- set live = var('live', false) in [true, 'true', '1', 1] -%}
{{ config(
    materialized=('incremental' if live else 'table'),
    unique_key='event_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
{%- set mapped_wm = none -%}
{%- set loaded_wm = none -%}
{%- set moved = 0 -%}
{%- if execute and is_incremental() -%}
    {%- set mapped_wm = incremental_watermark('_mapped_at') -%}
    {%- set loaded_wm = incremental_watermark('_loaded_at') -%}
    {%- if mapped_wm and loaded_wm -%}
        {%- set moved = run_query(
            "select count(*) from " ~ ref('int_record_persons') ~ " where record_source = 'events' and _mapped_at > "
            ~ instant_literal(mapped_wm) ~ " and _loaded_at <= " ~ instant_literal(loaded_wm)
        ).columns[0].values()[0] -%}
    {%- endif -%}
{%- endif %}
with

record_persons as (
    select
        record_id,
        person_id,
        _mapped_at
    from {{ ref('int_record_persons') }}
    where record_source = 'events'{% if mapped_wm %} and _mapped_at > {{ instant_literal(mapped_wm) }}{% endif %}
),

events as (
    select * from {{ ref('stg_tracking__events') }}
    {% if loaded_wm %}
        where
            _loaded_at > {{ instant_literal(loaded_wm) }}
            {% if moved > 0 %}or event_id in (select record_persons.record_id from record_persons){% endif %}
    {% endif %}
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
        record_persons._mapped_at
    from events
    inner join record_persons on events.event_id = record_persons.record_id
    left join erased on record_persons.person_id = erased.person_id
    where
        erased.person_id is null
        and events.occurred_at is not null
)

select * from joined
