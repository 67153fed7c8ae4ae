-- Every identifier of every (non-erased) person, by type: the companion of `customers`.
with person_map as (
    select * from {{ source('identity', 'identifier_person_map') }}
),

erased as (
    select * from {{ ref('int_erased_persons') }}
),

identifiers as (
    select
        person_id,
        identifier_type,
        identifier_value,
        first_seen_at,
        last_seen_at
    from person_map
    where person_id not in (select erased.person_id from erased)
)

select * from identifiers
