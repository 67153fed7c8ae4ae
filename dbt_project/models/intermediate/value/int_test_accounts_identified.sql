-- Customer accounts that belong to QA / test users rather than shoppers. Every order of such an account is left
-- out of the value marts, even orders the shop forgot to flag is_test. An account is a test account when:
--   * it placed at least one order flagged is_test, or
--   * its CRM contact has an email that normalization rejected as junk (test@test.com, "null", "undefined", ...)
--     and no usable phone either, so nothing real identifies it.
-- Guest orders that merely typed a junk email are kept: their phone or card still identifies a real shopper.
with orders as (
    select * from {{ ref('stg_shop__orders') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

flagged_orders as (
    select
        customer_id,
        'placed_test_order' as reason
    from orders
    where is_test and customer_id is not null
    group by customer_id
),

junk_contacts as (
    select
        customer_id,
        'junk_contact_details' as reason
    from contacts
    where
        customer_id is not null
        and nullif(trim(email_raw), '') is not null
        and email is null
        and phone is null
),

reasons as (
    select * from flagged_orders
    union all
    select * from junk_contacts
),

accounts as (
    select
        customer_id,
        {{ sorted_distinct_list('reason') }} as reasons
    from reasons
    group by customer_id
)

select * from accounts
