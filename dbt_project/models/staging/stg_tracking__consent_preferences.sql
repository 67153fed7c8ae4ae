{#- Consent a website or app sent with its events (context.consent.categoryPreferences, as Segment's consent
    management and the collector, sen/collect, keep it): one row per event and mapped category. The var
    event_consent_categories maps each Sen channel to the category names the site's consent tool uses. -#}
{%- set pairs = [] %}
{%- for channel, categories in var('event_consent_categories').items() %}
    {%- for category in categories %}
        {%- do pairs.append((channel, category)) %}
    {%- endfor %}
{%- endfor %}

with

source as (
    select * from {{ source('raw', 'events') }}
    -- Only the events that carry a consent choice are parsed.
    where context like '%categoryPreferences%'
),

latest as (
    {{ latest_versions('source', ['trim(message_id)']) }}
),

choices as (
    {%- for channel, category in pairs %}
        select
            trim(message_id) as event_id,
            '{{ channel }}' as channel,
            '{{ category }}' as category,
            {{ to_boolean(json_text('context', 'consent.categoryPreferences.' ~ category)) }} as is_granted,
            {{ source_timestamp('timestamp', 'events') }} as chosen_at,
            _source_file,
            _source_line,
            _loaded_at
        from latest
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
)

select * from choices
where is_granted is not null
