with

source as (
    select * from {{ source('shop', 'order_lines') }}
),

latest as (
    {{ latest_versions('source', ['trim(order_id)', to_integer('line_number')]) }}
),

typed as (
    select
        trim(order_id) || '-' || cast({{ to_integer('line_number') }} as {{ dbt.type_string() }}) as order_line_id,
        trim(order_id) as order_id,
        {{ to_integer('line_number') }} as line_number,
        {{ clean_code('sku') }} as sku,
        {{ to_integer('quantity') }} as quantity,
        {{ to_decimal('unit_price') }} as unit_price,
        -- Exports leave line_total empty on some rows; quantity x unit price is what the customer paid.
        coalesce(
            {{ to_decimal('line_total') }},
            cast({{ to_integer('quantity') }} * {{ to_decimal('unit_price') }} as decimal(18, 2))
        ) as line_total,
        _source_file,
        _source_line,
        _loaded_at
    from latest
)

select * from typed
