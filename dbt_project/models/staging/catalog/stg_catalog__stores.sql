with

source as (
    select * from {{ source('catalog', 'stores') }}
),

latest as (
    {{ latest_versions('source', [clean_code('store_id')]) }}
),

typed as (
    select
        {{ clean_code('store_id') }} as store_id,
        {{ clean_text('name') }} as store_name,
        {{ clean_text('city') }} as city,
        {{ country_code('country') }} as country,
        {{ to_date('opened_at') }} as opened_at,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
