-- Push tokens per person with their platform, seen at or before the reference time; tokens a push service reported
-- dead (sync.dead_push_tokens) are flagged and never ranked first. token_rank 1 = the most recently seen live token.
with

tokens as (
    select * from {{ ref('stg_tracking__push_tokens') }}
    where first_registered_at <= {{ as_of() }}
),

person_map as (
    select
        identifier_value,
        person_id
    from {{ source('identity', 'identifier_person_map') }}
    where identifier_type = 'push_token'
),

dead as (
    select distinct token from {{ source('sync', 'dead_push_tokens') }}
),

erased as (
    select person_id from {{ ref('int_erased_persons') }}
),

joined as (
    select
        person_map.person_id,
        tokens.push_token,
        tokens.platform,
        tokens.registered_at as last_seen_at,
        dead.token is not null as is_dead
    from tokens
    inner join person_map on tokens.push_token = person_map.identifier_value
    left join dead on tokens.push_token = dead.token
    left join erased on person_map.person_id = erased.person_id
    where erased.person_id is null
),

ranked as (
    select
        *,
        case
            when not is_dead
                then row_number() over (
                    partition by person_id order by case when is_dead then 1 else 0 end asc, last_seen_at desc, push_token asc
                )
        end as token_rank
    from joined
)

select * from ranked
