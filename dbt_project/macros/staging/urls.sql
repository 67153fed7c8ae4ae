{#- URL helpers for tracking data: a decoded query parameter and the path of a URL. Null when absent. -#}

{% macro url_query_param(url, name) -%}
    {{ return(adapter.dispatch('url_query_param', 'sen')(url, name)) }}
{%- endmacro %}

{% macro default__url_query_param(url, name) -%}
    nullif(url_decode(parse_url({{ url }}, 'QUERY', '{{ name }}')), '')
{%- endmacro %}

{% macro duckdb__url_query_param(url, name) -%}
    nullif(url_decode(replace(regexp_extract({{ url }}, '[?&]{{ name }}=([^&#]*)', 1), '+', ' ')), '')
{%- endmacro %}

{% macro url_path(url) -%}
    {{ return(adapter.dispatch('url_path', 'sen')(url)) }}
{%- endmacro %}

{% macro default__url_path(url) -%}
    nullif(parse_url({{ url }}, 'PATH'), '')
{%- endmacro %}

{% macro duckdb__url_path(url) -%}
    nullif(regexp_extract({{ url }}, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)', 1), '')
{%- endmacro %}
