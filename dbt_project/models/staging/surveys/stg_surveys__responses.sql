with

source as (
    select * from {{ source('surveys', 'survey_responses') }}
),

latest as (
    {{ latest_versions('source', ['trim(response_id)']) }}
),

typed as (
    select
        trim(response_id) as response_id,
        {{ normalize_identifier('customer_id', 'customer_id') }} as customer_id,
        {{ normalize_email('email') }} as email,
        {{ clean_enum('survey_type') }} as survey_type,
        {{ to_integer('score') }} as score,
        {{ clean_text('comment') }} as comment,  -- noqa: RF04
        {{ clean_text('order_id') }} as order_id,
        {{ source_timestamp('responded_at', 'survey_responses') }} as responded_at,
        customer_id as customer_id_raw,
        email as email_raw,
        _source_file,
        _source_line,
        _loaded_at
    from latest
),

classified as (
    select
        *,
        -- Standard NPS bands on the 0-10 scale.
        case
            when survey_type != 'nps' then null
            when score >= 9 then 'promoter'
            when score >= 7 then 'passive'
            else 'detractor'
        end as nps_category
    from typed
)

select * from classified
