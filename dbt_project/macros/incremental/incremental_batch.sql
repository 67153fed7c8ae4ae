{#- Incremental loading of the event-sized models (docs/incremental.md).

    An incremental model filters its input with `incremental_batch(event_time, ...)`, a boolean SQL expression:
    - full build (first run, --full-refresh): true, every row;
    - incremental run: the rows loaded since the last run, `_loaded_at` greater than the latest `_loaded_at`
      already in the model (read once at compile time, so DuckDB skips the old row groups). A late event comes in
      a later file, so it is new by load time however old its event time is; a message delivered again replaces
      the stored one (delete+insert on the unique key), as in a full build where the latest load wins;
    - with a partition window (vars min_date and max_date, ISO dates, from a Dagster partition range), also every
      row whose event time falls in [min_date - lookback_days, max_date): backfills and reprocessing after a
      change of logic recompute those days from raw;
    - with var loaded_until (a UTC timestamp), only rows loaded up to then, in every case: a rebuild of a large
      history in load batches (`python -m orchestration.cli rebuild-events`) is a full build capped at the first
      batch's last load, then incremental runs capped at the next ones.
-#}

{#- The partition window as (start, end) ISO date strings, start already moved back by lookback_days; none
    without one. -#}
{% macro incremental_window() -%}
    {%- set min_date = var('min_date', '') -%}
    {%- set max_date = var('max_date', '') -%}
    {%- if not min_date and not max_date -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not (min_date and max_date) -%}
        {{ exceptions.raise_compiler_error(
            "incremental window: vars min_date and max_date go together (got min_date='" ~ min_date
            ~ "', max_date='" ~ max_date ~ "')") }}
    {%- endif -%}
    {%- set lookback = var('lookback_days', 3) -%}
    {%- if lookback is string and lookback.isdigit() -%}
        {%- set lookback = lookback | int -%}
    {%- endif -%}
    {%- if lookback is not number or lookback < 0 -%}
        {{ exceptions.raise_compiler_error(
            "incremental window: var lookback_days must be a whole number of days >= 0, got '" ~ lookback ~ "'") }}
    {%- endif -%}
    {%- set dates = {} -%}
    {%- for name, value in [('min_date', min_date), ('max_date', max_date)] -%}
        {%- set text = (value | string)[:10] -%}
        {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', text) -%}
            {{ exceptions.raise_compiler_error(
                "incremental window: var " ~ name ~ " must be an ISO date (YYYY-MM-DD), got '" ~ value ~ "'") }}
        {%- endif -%}
        {%- do dates.update({name: modules.datetime.date(text[0:4] | int, text[5:7] | int, text[8:10] | int)}) -%}
    {%- endfor -%}
    {%- if dates['max_date'] <= dates['min_date'] -%}
        {{ exceptions.raise_compiler_error(
            "incremental window: max_date (" ~ dates['max_date'] ~ ") must be after min_date (" ~ dates['min_date']
            ~ "); the window is [min_date, max_date)") }}
    {%- endif -%}
    {%- set start = dates['min_date'] - modules.datetime.timedelta(days=lookback) -%}
    {{ return((start.isoformat(), dates['max_date'].isoformat())) }}
{%- endmacro %}

{#- The load-time cap of a batched rebuild: a SQL condition on `loaded_at`, or none without var loaded_until. -#}
{% macro incremental_load_cap(loaded_at) -%}
    {%- set until = var('loaded_until', '') | string -%}
    {%- if not until -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$', until) -%}
        {{ exceptions.raise_compiler_error(
            "incremental load cap: var loaded_until must be an ISO timestamp (UTC), got '" ~ until ~ "'") }}
    {%- endif -%}
    {{ return(loaded_at ~ " <= " ~ instant_literal(until ~ "+00")) }}
{%- endmacro %}

{#- The latest value of `column` already in this model (text, UTC), or none when it is empty. Only meaningful
    inside is_incremental(); `where` restricts it to a part of the model (e.g. one record source). -#}
{% macro incremental_watermark(column='_loaded_at', where=none) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select cast(max({{ column }}) as {{ dbt.type_string() }}) from {{ this }}
        {%- if where %} where {{ where }}{% endif %}
    {%- endset -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return(value) }}
{%- endmacro %}

{#- The filter of an incremental model's input (see the top of this file).
    event_time: SQL expression of the row's event time (naive UTC timestamp), used by the partition window.
    loaded_at: the load-time column carried from raw; watermark_where: the part of this model the input feeds. -#}
{% macro incremental_batch(event_time, loaded_at='_loaded_at', watermark_where=none) -%}
    {#- Validated on every build, so a bad window fails the first run too, not only later ones. -#}
    {%- set window = incremental_window() -%}
    {%- set cap = incremental_load_cap(loaded_at) -%}
    {%- if not is_incremental() -%}
        {{ cap if cap is not none else 'true' }}
    {%- else -%}
        {%- set watermark = incremental_watermark(loaded_at, watermark_where) -%}
        {%- set conditions = [] -%}
        {%- if watermark is none -%}
            {%- do conditions.append('true') -%}
        {%- else -%}
            {%- do conditions.append(loaded_at ~ " > " ~ instant_literal(watermark)) -%}
        {%- endif -%}
        {%- if window is not none -%}
            {%- do conditions.append(
                "(" ~ event_time ~ " >= cast('" ~ window[0] ~ "' as timestamp) and "
                ~ event_time ~ " < cast('" ~ window[1] ~ "' as timestamp))") -%}
        {%- endif -%}
        ({{ conditions | join(' or ') }}){% if cap is not none %} and {{ cap }}{% endif %}
    {%- endif -%}
{%- endmacro %}
