{#- Small text clean-ups shared by the staging models (plain SQL, portable as is). -#}

{#- Trimmed text, empty -> null. -#}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- Enumerations are compared lower-case. -#}
{% macro clean_enum(column) -%}
    lower(nullif(trim({{ column }}), ''))
{%- endmacro %}

{#- Codes compared upper-case (SKUs, coupon codes, country codes). -#}
{% macro clean_code(column) -%}
    upper(nullif(trim({{ column }}), ''))
{%- endmacro %}

{#- ISO currency code; amounts that arrive without one are in var('default_currency'). -#}
{% macro currency_code(column) -%}
    coalesce(upper(nullif(trim({{ column }}), '')), '{{ var("default_currency", "VND") }}')
{%- endmacro %}

{#- ISO 3166 alpha-2 country code from the spellings forms produce ('Việt Nam', 'VIETNAM', 'vn'); other two-letter
    values are kept upper-case, anything else unknown is null. -#}
{% macro country_code(column) -%}
    case
        when lower(replace(trim({{ column }}), ' ', '')) in ('vn', 'vnm', 'vietnam', 'việtnam') then 'VN'
        when lower(replace(trim({{ column }}), ' ', '')) in ('sg', 'sgp', 'singapore') then 'SG'
        when lower(replace(trim({{ column }}), ' ', '')) in ('us', 'usa', 'unitedstates') then 'US'
        when length(trim({{ column }})) = 2 then upper(trim({{ column }}))
    end
{%- endmacro %}

{#- 'female' / 'male' from the one-letter and word spellings; other answers are kept lower-case. -#}
{% macro gender_code(column) -%}
    case
        when lower(trim({{ column }})) in ('f', 'female', 'nữ', 'nu', 'w', 'woman') then 'female'
        when lower(trim({{ column }})) in ('m', 'male', 'nam', 'man') then 'male'
        else lower(nullif(trim({{ column }}), ''))
    end
{%- endmacro %}
