-- The person behind every record (event, order, POS transaction, CRM row, ticket, chat, survey, email event):
-- the person of the record's strongest identifier, so a kiosk device (cut by the guards) never decides whose
-- order it is when a customer id is on the record too.
with occurrences as (
    select * from {{ ref('int_identifier_occurrences') }}
),

person_map as (
    select * from {{ source('identity', 'identifier_person_map') }}
),

ranked as (
    select
        occurrences.record_source,
        occurrences.record_id,
        person_map.person_id,
        row_number() over (
            partition by occurrences.record_source, occurrences.record_id
            order by
                {{ identifier_type_rank('occurrences.identifier_type') }},
                person_map.person_id
        ) as strength_rank
    from occurrences
    inner join person_map
        on
            occurrences.identifier_type = person_map.identifier_type
            and occurrences.identifier_value = person_map.identifier_value
),

strongest as (
    select
        record_source,
        record_id,
        person_id
    from ranked
    where strength_rank = 1
)

select * from strongest
