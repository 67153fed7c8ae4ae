-- Every current member of each campaign's segment who can be reached through the campaign: on its fixed channel,
-- or on the first channel of their ranking (best_channel campaigns) among the campaign's destinations. Consent and
-- eligibility come from channel_eligibility; promotional campaigns leave out people with an open ticket; members of
-- a campaign's exclude_segments are left out. The control group is drawn from these people, so it is comparable.
with

campaigns as (
    select * from {{ ref('campaigns') }}
),

destinations as (
    select * from {{ ref('campaign_destinations') }}
),

members as (
    select * from {{ ref('segment_members_current') }}
),

eligible as (
    select
        person_id,
        channel
    from {{ ref('channel_eligibility') }}
    where is_eligible
),

fixed_channel as (
    select
        campaigns.campaign,
        members.person_id,
        destinations.destination,
        destinations.channel
    from campaigns
    inner join members on campaigns.segment = members.segment
    inner join destinations on campaigns.campaign = destinations.campaign
    inner join eligible on members.person_id = eligible.person_id and destinations.channel = eligible.channel
    where not campaigns.best_channel
),

best_channel_options as (
    select
        campaigns.campaign,
        members.person_id,
        destinations.destination,
        destinations.channel,
        row_number() over (
            partition by campaigns.campaign, members.person_id order by ranking.channel_rank, destinations.destination
        ) as option_rank
    from campaigns
    inner join members on campaigns.segment = members.segment
    inner join destinations on campaigns.campaign = destinations.campaign
    inner join {{ ref('channel_ranking') }} as ranking
        on members.person_id = ranking.person_id and destinations.channel = ranking.channel
    where campaigns.best_channel
),

reachable as (
    select * from fixed_channel
    union all
    select
        campaign,
        person_id,
        destination,
        channel
    from best_channel_options
    where option_rank = 1
),

open_tickets as (
    select person_id from {{ ref('service_recovery') }}
    where has_open_ticket
),

excluded as (
    select distinct
        exclusions.campaign,
        members.person_id
    from {{ ref('campaign_exclusions') }} as exclusions
    inner join members on exclusions.segment = members.segment
),

filtered as (
    select reachable.*
    from reachable
    inner join campaigns on reachable.campaign = campaigns.campaign
    left join open_tickets on campaigns.promotional and reachable.person_id = open_tickets.person_id
    left join excluded on reachable.campaign = excluded.campaign and reachable.person_id = excluded.person_id
    where open_tickets.person_id is null and excluded.person_id is null
)

select * from filtered
