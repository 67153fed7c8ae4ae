{#- One row per distinct normalized identifier: the nodes of the identity graph. -#}
with

occurrences as (
    select * from {{ ref('int_identifier_occurrences') }}
),

nodes as (
    select
        identifier_type,
        identifier_value,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as n_records,
        {{ sorted_distinct_list('record_source') }} as sources
    from occurrences
    group by identifier_type, identifier_value
)

select * from nodes
