{#- The time zone in which a raw source writes naive timestamps, as declared in sen/contracts/sources.yml.
    tests/dbt/test_staging_contract.py fails when this map and the contract drift apart. -#}
{% macro contract_timezone(source_name) -%}
    {%- set timezones = {
        'events': 'UTC',
        'crm_contacts': 'business',
        'orders': 'business',
        'order_lines': 'business',
        'pos_transactions': 'business',
        'returns': 'business',
        'email_events': 'UTC',
        'ad_touchpoints': 'UTC',
        'support_tickets': 'business',
        'chat_conversations': 'UTC',
        'survey_responses': 'UTC',
        'products': 'UTC',
        'product_price_changes': 'UTC',
        'stores': 'UTC',
        'consent_changes': 'UTC',
        'erasure_requests': 'UTC',
    } -%}
    {%- if source_name not in timezones -%}
        {{ exceptions.raise_compiler_error("contract_timezone: no time zone for raw source '" ~ source_name ~ "'") }}
    {%- endif -%}
    {#- `business`: the shop's own wall-clock time, var('business_timezone') (CDP_TIMEZONE) -#}
    {%- if timezones[source_name] == 'business' -%}
        {{ return(business_timezone()) }}
    {%- endif -%}
    {{ return(timezones[source_name]) }}
{%- endmacro %}

{#- A raw timestamp column of a source, parsed to naive UTC with that source's contract time zone. -#}
{% macro source_timestamp(column, source_name) -%}
    {{ parse_timestamp_utc(column, contract_timezone(source_name)) }}
{%- endmacro %}
