-- What each campaign sends this run, one row per (campaign, person, destination) for reachable people outside the
-- control group, with a status:
--   already_contacted  the ledger has a send of this campaign to the person since the occasion began (segment entry,
--                      or the campaign's occasion field such as the cart stage due time): stays in the audience so
--                      the diff-based sync sends nothing new;
--   send               a new contact that fits every frequency cap;
--   held_back          a new contact that would exceed a cap (reported in frequency_cap_holdbacks).
-- Caps (frequency_caps seed) are rolling windows ending at the reference time, counted from sync.contact_ledger
-- across all campaigns; within one run, new contacts of a person are granted in campaign priority order, per
-- channel first, then against the 'all' caps.
-- Journeys: the messages of a campaign with an occasion (campaigns.journey, e.g. the cart reminder stages) to a
-- person during one stay in its segment are one contact. The first is capped like any other; the later ones
-- (status send) continue it without being capped again, and the caps count the whole journey once.
with

reachable as (
    select * from {{ ref('campaign_reachable') }}
),

assignments as (
    select * from {{ ref('campaign_assignments') }}
),

campaigns as (
    select * from {{ ref('campaigns') }}
),

caps as (
    select * from {{ ref('frequency_caps') }}
),

ledger as (
    select
        person_id,
        channel,
        campaign,
        sent_at
    from {{ source('sync', 'contact_ledger') }}
    where sent_at <= {{ as_of() }} and person_id is not null
),

stays as (
    select
        segment,
        person_id,
        entered_at,
        exited_at
    from {{ ref('segment_memberships') }}
),

memberships as (
    select
        segment,
        person_id,
        entered_at
    from stays
    where exited_at is null
),

-- A ledger send of a journey campaign belongs to the stay in the campaign's segment it was sent during
-- (journey_entered_at); other sends (journey_entered_at null) are a contact each.
ledger_journeys as (
    select
        ledger.person_id,
        ledger.channel,
        ledger.campaign,
        ledger.sent_at,
        stays.entered_at as journey_entered_at
    from ledger
    left join campaigns on ledger.campaign = campaigns.campaign and campaigns.journey
    left join stays
        on
            campaigns.segment = stays.segment
            and ledger.person_id = stays.person_id
            and ledger.sent_at >= stays.entered_at
            and (stays.exited_at is null or ledger.sent_at < stays.exited_at)
),

-- One row per contact: a journey is one, at its latest send (in a cap's window if any of its sends is).
ledger_contacts as (
    select
        person_id,
        channel,
        sent_at
    from ledger_journeys
    where journey_entered_at is null
    union all
    select
        person_id,
        channel,
        max(sent_at) as sent_at
    from ledger_journeys
    where journey_entered_at is not null
    group by person_id, channel, campaign, journey_entered_at
),

candidates as (
    select
        reachable.campaign,
        reachable.person_id,
        reachable.destination,
        reachable.channel,
        assignments.variant,
        campaigns.priority,
        campaigns.frequency_capped,
        coalesce(campaigns.journey, false) as journey,
        memberships.entered_at,
        coalesce(occasions.occasion_at, memberships.entered_at) as occasion_at
    from reachable
    inner join assignments
        on reachable.campaign = assignments.campaign and reachable.person_id = assignments.person_id
    inner join campaigns on reachable.campaign = campaigns.campaign
    left join memberships on campaigns.segment = memberships.segment and reachable.person_id = memberships.person_id
    left join {{ ref('campaign_occasions') }} as occasions
        on reachable.campaign = occasions.campaign and reachable.person_id = occasions.person_id
    where not assignments.is_control
),

last_sends as (
    select
        person_id,
        campaign,
        max(sent_at) as last_sent_at
    from ledger
    group by person_id, campaign
),

contacted as (
    select
        candidates.*,
        last_sends.last_sent_at,
        coalesce(last_sends.last_sent_at >= candidates.occasion_at, false) as already_contacted,
        -- a later message of a journey already begun in this stay: not capped again
        coalesce(candidates.journey and last_sends.last_sent_at >= candidates.entered_at, false) as continues_journey
    from candidates
    left join last_sends
        on candidates.person_id = last_sends.person_id and candidates.campaign = last_sends.campaign
),

-- Contacts already made per person, channel ('all' = every messaging channel) and cap period.
ledger_counts as (
    select
        ledger.person_id,
        caps.channel,
        caps.period,
        count(*) as contacts
    from ledger_contacts as ledger
    inner join caps
        on
            (ledger.channel = caps.channel or (ledger.channel in ('email', 'push', 'sms', 'zalo') and caps.channel = 'all'))
            and ledger.sent_at > {{ dbt.dateadd('day', '-1 * caps.period_days', as_of()) }}
    group by ledger.person_id, caps.channel, caps.period
),

new_contacts as (
    select
        *,
        row_number() over (partition by person_id, channel order by priority, campaign, destination) as channel_order
    from contacted
    where not already_contacted and not continues_journey and frequency_capped
),

channel_breaches as (
    select
        new_contacts.campaign,
        new_contacts.person_id,
        new_contacts.destination,
        caps.channel as cap_channel,
        caps.period as cap_period,
        caps.period_days,
        caps.max_contacts,
        coalesce(ledger_counts.contacts, 0) as contacts_in_period,
        new_contacts.channel_order - 1 as granted_before
    from new_contacts
    inner join caps on new_contacts.channel = caps.channel
    left join ledger_counts
        on
            new_contacts.person_id = ledger_counts.person_id
            and caps.channel = ledger_counts.channel
            and caps.period = ledger_counts.period
    where coalesce(ledger_counts.contacts, 0) + new_contacts.channel_order > caps.max_contacts
),

channel_granted as (
    select
        new_contacts.*,
        row_number() over (partition by new_contacts.person_id order by new_contacts.priority, new_contacts.campaign)
            as total_order
    from new_contacts
    where not exists (
        select 1
        from channel_breaches
        where
            channel_breaches.campaign = new_contacts.campaign
            and channel_breaches.person_id = new_contacts.person_id
            and channel_breaches.destination = new_contacts.destination
    )
),

total_breaches as (
    select
        channel_granted.campaign,
        channel_granted.person_id,
        channel_granted.destination,
        caps.channel as cap_channel,
        caps.period as cap_period,
        caps.period_days,
        caps.max_contacts,
        coalesce(ledger_counts.contacts, 0) as contacts_in_period,
        channel_granted.total_order - 1 as granted_before
    from channel_granted
    inner join caps on caps.channel = 'all'
    left join ledger_counts
        on
            channel_granted.person_id = ledger_counts.person_id
            and ledger_counts.channel = 'all'
            and caps.period = ledger_counts.period
    where coalesce(ledger_counts.contacts, 0) + channel_granted.total_order > caps.max_contacts
),

-- The binding cap of each held-back contact: the channel's own caps first, then the shortest period.
breaches as (
    select
        *,
        row_number() over (
            partition by campaign, person_id, destination
            order by case when cap_channel = 'all' then 1 else 0 end, period_days
        ) as breach_rank
    from (
        select * from channel_breaches
        union all
        select * from total_breaches
    ) as all_breaches
),

final as (
    select
        contacted.campaign,
        contacted.person_id,
        contacted.destination,
        contacted.channel,
        contacted.variant,
        contacted.priority,
        contacted.occasion_at,
        contacted.last_sent_at,
        contacted.continues_journey,
        case
            when contacted.already_contacted then 'already_contacted'
            when breaches.campaign is not null then 'held_back'
            else 'send'
        end as status,
        breaches.cap_channel,
        breaches.cap_period,
        breaches.max_contacts,
        breaches.contacts_in_period,
        breaches.granted_before
    from contacted
    left join breaches
        on
            contacted.campaign = breaches.campaign
            and contacted.person_id = breaches.person_id
            and contacted.destination = breaches.destination
            and breaches.breach_rank = 1
)

select * from final
