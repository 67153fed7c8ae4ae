-- Per person the channel they engage with most among those they may be contacted on, and the fallbacks in order
-- (channel_rank, e.g. 'push,email,zalo'). best_channel is null when no messaging channel is allowed.
with

customers as (
    select person_id from {{ ref('customers') }}
),

ranking as (
    select * from {{ ref('channel_ranking') }}
),

summary as (
    select
        person_id,
        max(case when channel_rank = 1 then channel end) as best_channel,
        {{ dbt.listagg('channel', "','", 'order by channel_rank') }} as channel_rank,
        count(*) as n_eligible_channels,
        max(case when channel = 'email' then engagement_score end) as email_score,
        max(case when channel = 'push' then engagement_score end) as push_score,
        max(case when channel = 'zalo' then engagement_score end) as zalo_score,
        max(case when channel = 'sms' then engagement_score end) as sms_score
    from ranking
    group by person_id
)

select
    customers.person_id,
    summary.best_channel,
    summary.channel_rank,
    coalesce(summary.n_eligible_channels, 0) as n_eligible_channels,
    summary.email_score,
    summary.push_score,
    summary.zalo_score,
    summary.sms_score
from customers
left join summary on customers.person_id = summary.person_id
