{#- Consent a website or app sent with its events (context.consent.categoryPreferences): one row per event and
    mapped category. The var event_consent_categories maps each Sen channel to the category names the site's
    consent tool uses (docs/collect.md). -#}
{%- set pairs = [] %}
{%- for channel, categories in var('event_consent_categories').items() %}
    {%- for category in categories %}
        {%- do pairs.append((channel, category)) %}
    {%- endfor %}
{%- endfor %}

with

events as (
    select
        event_id,
        occurred_at,
        consent_preferences
    from {{ ref('stg_tracking__events') }}
    where consent_preferences is not null
),

choices as (
    {%- for channel, category in pairs %}
        select
            event_id,
            '{{ channel }}' as channel,
            '{{ category }}' as category,
            {{ to_boolean(json_text('consent_preferences', category)) }} as is_granted,
            occurred_at as chosen_at
        from events
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
)

select * from choices
where is_granted is not null
