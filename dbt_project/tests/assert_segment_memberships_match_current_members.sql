-- Fails when the open memberships of marts.segment_memberships differ from the current members of the segments
-- (a member without an open row, or an open row for someone who is no longer a member).
with

open_memberships as (
    select
        segment,
        person_id
    from {{ ref('segment_memberships') }}
    where exited_at is null
),

current_members as (
    select distinct
        segment,
        person_id
    from {{ ref('segment_members_current') }}
),

missing as (
    select
        current_members.segment,
        current_members.person_id,
        'member without an open membership' as problem
    from current_members
    left join open_memberships
        on current_members.segment = open_memberships.segment and current_members.person_id = open_memberships.person_id
    where open_memberships.person_id is null
),

stale as (
    select
        open_memberships.segment,
        open_memberships.person_id,
        'open membership of a non-member' as problem
    from open_memberships
    left join current_members
        on open_memberships.segment = current_members.segment and open_memberships.person_id = current_members.person_id
    where current_members.person_id is null
)

select * from missing
union all
select * from stale
