-- Birthdays and loyalty-membership anniversaries relative to the reference date, one row per person with either.
-- A 29 February birthday is celebrated on 28 February in other years.
with

customers as (
    select
        person_id,
        birthday,
        loyalty_joined_at,
        is_loyalty_member
    from {{ ref('customers') }}
    where birthday is not null or loyalty_joined_at is not null
),

today as (
    select cast({{ as_of() }} as date) as today
),

parts as (
    select
        customers.*,
        today.today,
        extract(year from today.today) as this_year,
        extract(month from today.today) as this_month,
        extract(month from customers.birthday) as birth_month,
        case
            when extract(month from customers.birthday) = 2 and extract(day from customers.birthday) = 29 then 28
            else extract(day from customers.birthday)
        end as birth_day
    from customers
    cross join today
),

birthdays as (
    select
        *,
        make_date(cast(this_year as integer), cast(birth_month as integer), cast(birth_day as integer))
            as birthday_this_year,
        make_date(cast(this_year + 1 as integer), cast(birth_month as integer), cast(birth_day as integer))
            as birthday_next_year
    from parts
),

moments as (
    select
        person_id,
        birthday,
        coalesce(birth_month = this_month, false) as birthday_this_month,
        case
            when birthday is null then null
            when birthday_this_year >= today then {{ dbt.datediff('today', 'birthday_this_year', 'day') }}
            else {{ dbt.datediff('today', 'birthday_next_year', 'day') }}
        end as days_to_birthday,
        loyalty_joined_at,
        coalesce(
            is_loyalty_member
            and extract(month from loyalty_joined_at) = this_month
            and extract(year from loyalty_joined_at) < this_year,
            false
        ) as anniversary_this_month,
        case
            when loyalty_joined_at is not null and loyalty_joined_at <= today
                then
                    cast(this_year - extract(year from loyalty_joined_at) as integer)
                    - case
                        when
                            extract(month from loyalty_joined_at) > this_month
                            or (
                                extract(month from loyalty_joined_at) = this_month
                                and extract(day from loyalty_joined_at) > extract(day from today)
                            )
                            then 1
                        else 0
                    end
        end as membership_years
    from birthdays
)

select * from moments
