{#- One setting of the ready programs (dbt_project/campaigns.yml `settings`, via the program_settings seed),
    as a scalar subquery cast to sql_type. Settings are data, so changing one needs no SQL change. -#}
{% macro program_setting(name, sql_type='bigint') -%}
    (select cast(value as {{ sql_type }}) from {{ ref('program_settings') }} where setting = '{{ name }}')
{%- endmacro %}
