-- Dissatisfaction signals per person for service recovery: latest NPS answer (low = at or below low_nps_score),
-- returns and delivery complaints within service_window_days, and tickets open at the reference time (open or
-- pending, or solved only after it). Promotional campaigns leave out people with an open ticket.
with

record_persons as (
    select * from {{ ref('int_record_persons') }}
    where record_source in ('support', 'surveys')
),

erased as (
    select person_id from {{ ref('int_erased_persons') }}
),

tickets as (
    select
        record_persons.person_id,
        tickets.ticket_id,
        tickets.category,
        tickets.created_at,
        coalesce(
            tickets.status in ('open', 'pending') or tickets.resolved_at > {{ as_of() }}, false
        ) as is_open
    from {{ ref('stg_support__tickets') }} as tickets
    inner join record_persons
        on record_persons.record_source = 'support' and tickets.ticket_id = record_persons.record_id
    where tickets.created_at <= {{ as_of() }}
),

ticket_summary as (
    select
        person_id,
        sum(case when is_open then 1 else 0 end) as open_tickets,
        sum(
            case
                when
                    category = 'delivery'
                    and created_at > {{ dbt.dateadd('day', '-1 * ' ~ program_setting('service_window_days'), as_of()) }}
                    then 1
                else 0
            end
        ) as delivery_complaints
    from tickets
    group by person_id
),

nps as (
    select
        record_persons.person_id,
        responses.score,
        responses.responded_at,
        row_number() over (
            partition by record_persons.person_id order by responses.responded_at desc, responses.response_id desc
        ) as answer_rank
    from {{ ref('stg_surveys__responses') }} as responses
    inner join record_persons
        on record_persons.record_source = 'surveys' and responses.response_id = record_persons.record_id
    where responses.survey_type = 'nps' and responses.responded_at <= {{ as_of() }}
),

latest_nps as (
    select
        person_id,
        score as latest_nps,
        responded_at as latest_nps_at
    from nps
    where answer_rank = 1
),

returned as (
    select
        orders.person_id,
        count(distinct shop_returns.return_id) as n_returns
    from {{ ref('stg_shop__returns') }} as shop_returns
    inner join {{ ref('orders') }} as orders on shop_returns.order_id = orders.order_id
    where
        shop_returns.returned_at <= {{ as_of() }}
        and shop_returns.returned_at > {{ dbt.dateadd('day', '-1 * ' ~ program_setting('service_window_days'), as_of()) }}
        and orders.person_id is not null
    group by orders.person_id
),

people as (
    select person_id from ticket_summary
    union
    select person_id from latest_nps
    union
    select person_id from returned
),

signals as (
    select
        people.person_id,
        latest_nps.latest_nps,
        latest_nps.latest_nps_at,
        coalesce(latest_nps.latest_nps <= {{ program_setting('low_nps_score') }}, false) as low_nps,
        coalesce(returned.n_returns, 0) as returns_90d,
        coalesce(ticket_summary.delivery_complaints, 0) as delivery_complaints_90d,
        coalesce(ticket_summary.open_tickets, 0) as open_tickets
    from people
    left join latest_nps on people.person_id = latest_nps.person_id
    left join returned on people.person_id = returned.person_id
    left join ticket_summary on people.person_id = ticket_summary.person_id
    left join erased on people.person_id = erased.person_id
    where erased.person_id is null
),

final as (
    select
        *,
        open_tickets > 0 as has_open_ticket,
        low_nps or returns_90d > 0 or delivery_complaints_90d > 0 or open_tickets > 0 as is_dissatisfied,
        concat_ws(
            ',',
            case when low_nps then 'low_nps' end,
            case when returns_90d > 0 then 'return' end,
            case when delivery_complaints_90d > 0 then 'delivery_complaint' end,
            case when open_tickets > 0 then 'open_ticket' end
        ) as reasons
    from signals
)

select * from final
