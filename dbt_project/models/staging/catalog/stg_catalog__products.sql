with

source as (
    select * from {{ source('catalog', 'products') }}
),

latest as (
    {{ latest_versions('source', [clean_code('sku')], newest_first=[source_timestamp('updated_at', 'products')]) }}
),

typed as (
    select
        {{ clean_code('sku') }} as sku,
        {{ clean_text('name') }} as product_name,
        {{ clean_enum('category') }} as category,
        {{ clean_enum('subcategory') }} as subcategory,
        {{ clean_text('brand') }} as brand,
        {{ to_decimal('price') }} as price,
        {{ currency_code('currency') }} as currency,
        {{ to_integer('stock_level') }} as stock_level,
        coalesce({{ to_boolean('is_consumable') }}, false) as is_consumable,
        {{ to_integer('replenishment_days') }} as replenishment_days,
        {{ source_timestamp('updated_at', 'products') }} as updated_at,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
