{#- The account key: the normalized customer id, or the trimmed raw one should normalization reject it. -#}
{%- set customer_key = "coalesce(" ~ normalize_identifier('customer_id', 'customer_id') ~ ", trim(customer_id))" -%}
with

source as (
    select * from {{ source('crm', 'crm_contacts') }}
),

latest as (
    -- Snapshots are re-exported: the most recently updated version of an account wins.
    {{ latest_versions('source', [customer_key], newest_first=[source_timestamp('updated_at', 'crm_contacts')]) }}
),

typed as (
    select
        {{ customer_key }} as customer_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        {{ gender_code('gender') }} as gender,
        {{ to_date('birthday') }} as birthday,
        {{ clean_text('city') }} as city,
        {{ country_code('country') }} as country,
        {{ source_timestamp('created_at', 'crm_contacts') }} as created_at,
        {{ source_timestamp('updated_at', 'crm_contacts') }} as updated_at,
        {{ to_boolean('loyalty_member') }} as loyalty_member,
        {{ normalize_identifier('loyalty_card_id', 'loyalty_card') }} as loyalty_card_id,
        {{ to_date('loyalty_joined_at') }} as loyalty_joined_at,
        {{ normalize_identifier('referred_by_customer_id', 'customer_id') }} as referred_by_customer_id,
        {{ to_boolean('consent_email') }} as consent_email,
        {{ to_boolean('consent_sms') }} as consent_sms,
        {{ to_boolean('consent_zalo') }} as consent_zalo,
        {{ to_boolean('consent_push') }} as consent_push,
        {{ to_boolean('consent_ads') }} as consent_ads,
        customer_id as customer_id_raw,
        email as email_raw,
        phone as phone_raw,
        loyalty_card_id as loyalty_card_id_raw,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
