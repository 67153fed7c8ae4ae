-- One row per person whose latest cart is abandoned: contents, value, urgency flags, reminder stage and the
-- reminders already sent (sync.contact_ledger rows of the cart campaign since the cart's last activity).
-- stage = the last reminder stage whose delay (campaigns.yml settings.cart_reminder_hours) has passed;
-- stage_due_at = when it came due (the campaign's occasion: each stage is one message), reminder_key = cart and
-- stage (the campaign's occasion key: the sync sends each key once). A person who got at least
-- one reminder and then, until cart_ignored_after_hours after the last stage, neither ordered, opened, clicked nor
-- visited after the first one has ignored every reminder sent and moves to ad retargeting. (Stages that came due
-- while a cap held the person back are skipped, so "every reminder" means every reminder actually sent.)
with

items as (
    select * from {{ ref('abandoned_cart_items') }}
),

carts as (
    select
        person_id,
        min(cart_id) as cart_id,
        max(added_at) as last_added_at,
        max(last_activity_at) as last_activity_at,
        sum(quantity) as n_items,
        count(*) as n_skus,
        cast(sum(line_value) as decimal(18, 2)) as cart_value,
        bool_or(is_low_stock) as has_low_stock_item,
        bool_or(has_price_drop) as has_price_drop
    from items
    group by person_id
),

top_items as (
    select
        person_id,
        sku as top_sku,
        product_name as top_product_name,
        row_number() over (partition by person_id order by line_value desc, sku asc) as item_rank
    from items
),

stages as (
    select * from {{ ref('cart_reminder_stages') }}
),

stage_bounds as (
    select max(hours_after_activity) as last_stage_hours
    from stages
),

timed as (
    select
        *,
        {{ hours_between('last_activity_at', as_of()) }} as hours_since_activity
    from carts
),

staged as (
    select
        timed.person_id,
        max(stages.stage) as stage,  -- noqa: RF04
        max(stages.hours_after_activity) as stage_hours
    from timed
    inner join stages on timed.hours_since_activity >= stages.hours_after_activity
    group by timed.person_id
),

reminders as (
    select
        timed.person_id,
        count(*) as reminders_sent,
        min(ledger.sent_at) as first_reminder_at,
        max(ledger.sent_at) as last_reminder_at
    from timed
    inner join {{ source('sync', 'contact_ledger') }} as ledger
        on
            timed.person_id = ledger.person_id
            and ledger.campaign = {{ program_setting('cart_campaign', text_type()) }}
            and timed.last_activity_at < ledger.sent_at
            and ledger.sent_at <= {{ as_of() }}
    group by timed.person_id
),

-- Any sign of life after the first reminder: a visit or app event, or an email open or click.
engagement as (
    select
        reminders.person_id,
        true as engaged
    from reminders
    where
        exists (
            select 1
            from {{ ref('person_events') }} as events
            where
                events.person_id = reminders.person_id
                and events.occurred_at > reminders.first_reminder_at
                and events.occurred_at <= {{ as_of() }}
        )
        or exists (
            select 1
            from {{ ref('person_email_events') }} as email_events
            where
                email_events.person_id = reminders.person_id
                and email_events.event_type in ('opened', 'clicked')
                and email_events.occurred_at > reminders.first_reminder_at
                and email_events.occurred_at <= {{ as_of() }}
        )
),

assembled as (
    select
        timed.person_id,
        timed.cart_id,
        timed.last_activity_at,
        cast(timed.hours_since_activity as decimal(10, 2)) as hours_since_activity,
        timed.n_items,
        timed.n_skus,
        timed.cart_value,
        timed.has_low_stock_item,
        timed.has_price_drop,
        top_items.top_sku,
        top_items.top_product_name,
        staged.stage,  -- noqa: RF04
        case
            when staged.stage is not null
                then {{ dbt.dateadd('hour', 'staged.stage_hours', 'timed.last_activity_at') }}
        end as stage_due_at,
        -- One reminder per person, cart and stage, ever (the audiences' message_key): new activity on the cart
        -- restarts its stages, but a stage already sent for it is not sent again.
        case
            when staged.stage is not null
                then timed.cart_id || ':' || cast(staged.stage as {{ dbt.type_string() }})
        end as reminder_key,
        coalesce(reminders.reminders_sent, 0) as reminders_sent,
        reminders.last_reminder_at,
        coalesce(
            reminders.reminders_sent >= 1
            and timed.hours_since_activity
            >= stage_bounds.last_stage_hours + {{ program_setting('cart_ignored_after_hours') }}
            and engagement.engaged is null,
            false
        ) as ignored_all_reminders,
        (case when timed.n_items = 1 then 'single_item' else 'multi_item' end)
        || '_'
        || (
            case
                when timed.cart_value >= {{ program_setting('cart_high_value', 'decimal(18, 2)') }} then 'high_value'
                else 'standard'
            end
        ) as message_variant
    from timed
    cross join stage_bounds
    left join staged on timed.person_id = staged.person_id
    left join reminders on timed.person_id = reminders.person_id
    left join engagement on timed.person_id = engagement.person_id
    left join top_items on timed.person_id = top_items.person_id and top_items.item_rank = 1
),

final as (
    select
        *,
        coalesce(stage is not null and (last_reminder_at is null or last_reminder_at < stage_due_at), false)
            as reminder_due
    from assembled
)

select * from final
