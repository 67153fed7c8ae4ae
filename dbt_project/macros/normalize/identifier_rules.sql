{#- Generated from sen/normalize/rules.py by `python -m sen.normalize.rules`; do not edit. -#}

{#- Every identifier type, strongest first. -#}
{% macro identifier_types() -%}
    {{ return(['customer_id', 'loyalty_card', 'email', 'phone', 'platform_user_id', 'push_token', 'device_id', 'anonymous_id']) }}
{%- endmacro %}

{#- Types that define a person. -#}
{% macro person_defining_identifier_types() -%}
    {{ return(['customer_id', 'email', 'phone', 'loyalty_card']) }}
{%- endmacro %}

{#- Region used to read phones written without a country code; var('default_phone_region') overrides it. -#}
{% macro default_phone_region() -%}
    {{ return(var('default_phone_region', 'VN')) }}
{%- endmacro %}

{#- Domains where Gmail's rule applies (dots and '+tag' in the local part ignored). -#}
{% macro gmail_domains() -%}
    {{ return(['gmail.com', 'googlemail.com']) }}
{%- endmacro %}

{#- One row per identifier type (column identifier_type), as the body of a CTE. -#}
{% macro identifier_type_rows() -%}
select 'customer_id' as identifier_type
    union all
    select 'email' as identifier_type
    union all
    select 'phone' as identifier_type
    union all
    select 'loyalty_card' as identifier_type
    union all
    select 'anonymous_id' as identifier_type
    union all
    select 'device_id' as identifier_type
    union all
    select 'push_token' as identifier_type
    union all
    select 'platform_user_id' as identifier_type
{%- endmacro %}

{#- Strength of an identifier type (1 = strongest), used to pick the person and the survivor of a record. -#}
{% macro identifier_type_rank(column) -%}
    case {{ column }}
        when 'customer_id' then 1
        when 'loyalty_card' then 2
        when 'email' then 3
        when 'phone' then 4
        when 'platform_user_id' then 5
        when 'push_token' then 6
        when 'device_id' then 7
        when 'anonymous_id' then 8
        else 9
    end
{%- endmacro %}
