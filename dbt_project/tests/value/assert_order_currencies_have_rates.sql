-- Fails when an order is in a currency that is neither the reporting currency (CDP_CURRENCY, var
-- default_currency) nor converted by seed currency_rates (or its rate is not positive): its amounts would be
-- summed as if in the reporting currency. Each failing row names the currency and what to do.
select
    original_currency as currency,
    count(*) as orders,
    'orders in ' || original_currency || ' have no positive rate to {{ var("default_currency") }} in '
    || 'seeds/currency_rates.csv: add one, or set CDP_CURRENCY to the shop''s currency' as problem
from {{ ref('orders') }}
where exchange_rate is null or exchange_rate <= 0
group by original_currency
