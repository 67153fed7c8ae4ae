-- People a frequency cap held back from a campaign this run, with the cap that bound them: reported, not silently
-- dropped. contacts_in_period = sends already in the ledger within the cap's window; granted_before = contacts of
-- higher-priority campaigns granted to the same person in this run.
select
    campaign,
    person_id,
    destination,
    channel,
    variant,
    cap_channel,
    cap_period,
    max_contacts,
    contacts_in_period,
    granted_before,
    {{ as_of() }} as held_at
from {{ ref('campaign_deliveries') }}
where status = 'held_back'
