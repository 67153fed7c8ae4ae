-- Persons with a right-to-be-forgotten request. Every mart and audience excludes them; the syncs then
-- remove them from every destination on their next run.
with erasure_records as (
    select
        record_id,
        min(observed_at) as requested_at
    from {{ ref('int_identifier_occurrences') }}
    where record_source = 'erasure'
    group by record_id
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
    where record_source = 'erasure'
),

erased as (
    select
        record_persons.person_id,
        min(erasure_records.requested_at) as requested_at
    from erasure_records
    inner join record_persons on erasure_records.record_id = record_persons.record_id
    group by record_persons.person_id
)

select * from erased
