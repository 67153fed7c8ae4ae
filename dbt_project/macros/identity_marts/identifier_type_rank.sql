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
