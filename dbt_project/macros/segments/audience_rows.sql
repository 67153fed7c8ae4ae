{#- The rows of one audience mart (audience_<campaign>_<destination>): the campaign's deliveries to that destination
    with status send or already_contacted (controls and held-back people are not in it), re-checked against
    channel_eligibility, with exactly the identifiers and fields the destination type needs. properties is a list of
    [key, model, column] (profile fields from the catalog, chosen by the generator) sent along as a JSON object.
    message_key = campaign:person[:occasion key] names one message: a message sync keyed on it (send_once) sends
    each key once, e.g. each cart reminder stage once per person and cart. -#}
{% macro audience_rows(campaign, destination, properties=[]) -%}
{%- set channels = {'email': 'email', 'push': 'push', 'sms': 'sms', 'zalo': 'zalo', 'meta': 'ads', 'google': 'ads'} -%}
{%- if destination not in channels -%}
    {{ exceptions.raise_compiler_error("audience_rows: unknown destination '" ~ destination ~ "'") }}
{%- endif -%}
{%- set channel = channels[destination] -%}
{%- set models = [] -%}
{%- for key, model, column in properties -%}
    {%- if model not in models %}{% do models.append(model) %}{% endif -%}
{%- endfor -%}
{%- set pairs = [] -%}
{%- for key, model, column in properties -%}
    {%- do pairs.append((key, 'prop_' ~ model ~ '.' ~ column)) -%}
{%- endfor %}
with

deliveries as (
    select
        person_id,
        campaign,
        variant
    from {{ ref('campaign_deliveries') }}
    where
        campaign = '{{ campaign }}'
        and destination = '{{ destination }}'
        and status in ('send', 'already_contacted')
),

variants as (
    select * from {{ ref('campaign_variants') }}
    where campaign = '{{ campaign }}'
),

occasions as (
    select
        person_id,
        occasion_key
    from {{ ref('campaign_occasions') }}
    where campaign = '{{ campaign }}'
),

eligible as (
    select
        person_id,
        address
    from {{ ref('channel_eligibility') }}
    where channel = '{{ channel }}' and is_eligible
),

people as (
    select * from {{ ref('customers') }}
),
{%- if destination == 'push' %}

tokens as (
    select
        person_id,
        push_token,
        platform
    from {{ ref('person_push_tokens') }}
    where token_rank = 1
),
{%- endif %}

enriched as (
    select
        deliveries.person_id,
        deliveries.campaign,
        deliveries.variant,
        deliveries.campaign || ':' || deliveries.person_id || coalesce(':' || occasions.occasion_key, '')
            as message_key,
        {%- if destination == 'email' %}
        eligible.address as email,
        people.first_name,
        variants.template,
        {{ json_object_text(pairs) }} as properties
        {%- elif destination == 'push' %}
        tokens.push_token,
        tokens.platform,
        variants.title,
        variants.body,
        {{ json_object_text(pairs) }} as properties
        {%- elif destination == 'sms' %}
        eligible.address as phone,
        variants.body,
        {{ json_object_text(pairs) }} as properties
        {%- elif destination == 'zalo' %}
        {{ dbt.replace('eligible.address', "'+'", "''") }} as phone,
        variants.template as template_id,
        {{ json_object_text(pairs) }} as template_data
        {%- else %}
        people.email,
        people.phone,
        people.first_name,
        people.last_name,
        lower(people.country) as country,
        {{ json_object_text(pairs) }} as properties
        {%- endif %}
    from deliveries
    inner join eligible on deliveries.person_id = eligible.person_id
    inner join people on deliveries.person_id = people.person_id
    inner join variants on deliveries.variant = variants.variant
    left join occasions on deliveries.person_id = occasions.person_id
    {%- if destination == 'push' %}
    inner join tokens on deliveries.person_id = tokens.person_id and eligible.address = tokens.push_token
    {%- endif %}
    {%- for model in models %}
    left join {{ ref(model) }} as prop_{{ model }} on deliveries.person_id = prop_{{ model }}.person_id
    {%- endfor %}
)

select * from enriched
{%- endmacro %}
