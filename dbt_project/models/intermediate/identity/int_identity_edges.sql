{#- Identifier pairs seen together in one record: the edges of the identity graph, one row per unordered pair and
    record source. Every pair of a record is linked (not a star around its strongest identifier): a record holds
    at most one identifier per type, so at most 28 pairs, which stays linear in the number of records, and the
    over-merge guards of sen.identity need the direct pairs (an email typed with many phones) that a star would
    hide. Erasure requests and email engagement never create edges. -#}
with

occurrences as (
    select * from {{ ref('int_identifier_occurrences') }}
    where record_source not in ('erasure', 'email_events')
),

counted as (
    select
        *,
        count(*) over (partition by record_source, record_id) as n_identifiers
    from occurrences
),

linkable as (
    select * from counted
    where n_identifiers > 1
),

pairs as (
    select
        -- `source` is the column name sen.identity reads.
        a.record_source as source,  -- noqa: RF04
        a.identifier_type as id_a_type,
        a.identifier_value as id_a,
        b.identifier_type as id_b_type,
        b.identifier_value as id_b,
        a.observed_at
    from linkable as a
    inner join linkable as b
        on
            a.record_source = b.record_source
            and a.record_id = b.record_id
            -- Canonical order: (type, value) of a sorts before that of b, so each pair appears once.
            and (
                a.identifier_type < b.identifier_type
                or (a.identifier_type = b.identifier_type and a.identifier_value < b.identifier_value)
            )
),

edges as (
    select
        id_a_type,
        id_a,
        id_b_type,
        id_b,
        source,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as n_records
    from pairs
    group by id_a_type, id_a, id_b_type, id_b, source
)

select * from edges
