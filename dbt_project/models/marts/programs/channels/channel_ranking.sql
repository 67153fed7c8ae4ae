-- The messaging channels each person may be contacted on, ranked by engagement (most engaged first), ties and
-- channels without engagement in the default order email, push, zalo, sms.
with

eligible as (
    select
        person_id,
        channel
    from {{ ref('channel_eligibility') }}
    where is_eligible and channel in ('email', 'push', 'zalo', 'sms')
),

ranked as (
    select
        eligible.person_id,
        eligible.channel,
        coalesce(engagement.score, 0) as engagement_score,
        engagement.last_engaged_at,
        row_number() over (
            partition by eligible.person_id
            order by
                coalesce(engagement.score, 0) desc,
                case eligible.channel when 'email' then 1 when 'push' then 2 when 'zalo' then 3 else 4 end
        ) as channel_rank
    from eligible
    left join {{ ref('channel_engagement') }} as engagement
        on eligible.person_id = engagement.person_id and eligible.channel = engagement.channel
)

select * from ranked
