with

source as (
    select * from {{ source('catalog', 'product_price_changes') }}
),

latest as (
    {{ latest_versions('source', [clean_code('sku'), source_timestamp('changed_at', 'product_price_changes')]) }}
),

typed as (
    select
        {{ hash_key([clean_code('sku'), source_timestamp('changed_at', 'product_price_changes')]) }}
            as price_change_id,
        {{ clean_code('sku') }} as sku,
        {{ to_decimal('old_price') }} as old_price,
        {{ to_decimal('new_price') }} as new_price,
        {{ source_timestamp('changed_at', 'product_price_changes') }} as changed_at,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
