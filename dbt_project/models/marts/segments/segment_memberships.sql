-- Membership history of every segment: one row per stay of a person in a segment. Each run compares the current
-- members (segment_members_current) with the open memberships: newcomers open a row (entered_at = the reference
-- time), leavers get exited_at. Current membership = exited_at is null. A segment removed from the YAML closes all
-- its memberships. Erased persons are deleted from the history. History survives `dbt build --full-refresh`
-- (full_refresh=false); drop the table to start it over.
{{ config(
    materialized='incremental',
    unique_key='membership_id',
    full_refresh=false,
    post_hook="{{ delete_where(this, 'person_id in (select person_id from ' ~ ref('int_erased_persons') ~ ')') }}"
) }}
-- depends_on: {{ ref('int_erased_persons') }}

with

current_members as (
    -- Defined segments only (seed segment_definitions, from the YAML): a stale generated model of a removed
    -- segment never keeps members in the history.
    select distinct
        segment,
        person_id
    from {{ ref('segment_members_current') }}
    where segment in (select defined.segment from {{ ref('segment_definitions') }} as defined)
),

open_memberships as (
    {% if is_incremental() %}
        select
            segment,
            person_id,
            entered_at
        from {{ this }}
        where exited_at is null
    {% else %}
        -- First build: nobody has an open membership yet.
        select
            segment,
            person_id,
            cast(null as timestamp) as entered_at
        from current_members
        where false
    {% endif %}
),

entered as (
    select
        current_members.segment,
        current_members.person_id,
        {{ as_of() }} as entered_at,
        cast(null as timestamp) as exited_at
    from current_members
    left join open_memberships
        on
            current_members.segment = open_memberships.segment
            and current_members.person_id = open_memberships.person_id
    where open_memberships.person_id is null
),

exited as (
    select
        open_memberships.segment,
        open_memberships.person_id,
        open_memberships.entered_at,
        {{ as_of() }} as exited_at
    from open_memberships
    left join current_members
        on
            open_memberships.segment = current_members.segment
            and open_memberships.person_id = current_members.person_id
    where current_members.person_id is null
),

changes as (
    select * from entered
    union all
    select * from exited
)

select
    {{ hash_key(['segment', 'person_id', 'entered_at']) }} as membership_id,
    segment,
    person_id,
    entered_at,
    exited_at
from changes
