{#- Incremental models on Spark (docs/spark.md). The project's strategy is delete+insert (rows replaced by the
    model's unique_key); dbt-spark offers append, insert_overwrite and merge, and merge needs Delta, Iceberg or
    Hudi. On plain Parquet tables (the local session, no extra JARs) delete+insert is done as a rewrite: the kept
    rows of the table (no key in the batch) plus the batch are written to a side table, which then overwrites the
    table. That costs a pass over the whole table per run: right for the sample and for tables up to a few hundred
    million rows; a cluster with Delta sets file_format='delta' and incremental_strategy='merge' instead
    (dbt_project.yml, see docs/spark.md). These two macros take the place of dbt-spark's macros of the same name
    (the root project's macros win) and leave its own strategies unchanged. -#}

{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy == 'delete+insert' -%}
        {% do return(raw_strategy) %}
    {%- endif -%}
    {%- set known = ['append', 'merge', 'insert_overwrite', 'microbatch'] -%}
    {%- if raw_strategy not in known -%}
        {% do exceptions.raise_compiler_error(
            "Invalid incremental strategy provided: " ~ raw_strategy ~ ". Expected one of: delete+insert, "
            ~ known | join(', ')) %}
    {%- endif -%}
    {%- if raw_strategy == 'merge' and file_format not in ['delta', 'iceberg', 'hudi'] -%}
        {% do exceptions.raise_compiler_error(
            "Incremental strategy merge needs file_format delta, iceberg or hudi (got " ~ file_format
            ~ "); plain Parquet tables use delete+insert") %}
    {%- endif -%}
    {%- if raw_strategy in ['insert_overwrite', 'microbatch'] and target.endpoint -%}
        {% do exceptions.raise_compiler_error(
            "Incremental strategy " ~ raw_strategy ~ " cannot be used when connecting via endpoint") %}
    {%- endif -%}
    {% do return(raw_strategy) %}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- if strategy == 'delete+insert' -%}
        {{ sen.spark_delete_insert_sql(source, target, unique_key) }}
    {%- elif strategy == 'append' -%}
        {{ get_insert_into_sql(source, target) }}
    {%- elif strategy in ('insert_overwrite', 'microbatch') -%}
        {%- if strategy == 'microbatch' and not config.get('partition_by') -%}
            {% do exceptions.raise_compiler_error("dbt-spark 'microbatch' incremental strategy requires a partition_by config") %}
        {%- endif -%}
        {{ get_insert_overwrite_sql(source, target, existing) }}
    {%- elif strategy == 'merge' -%}
        {{ get_merge_sql(target, source, unique_key, dest_columns=none, incremental_predicates=incremental_predicates) }}
    {%- else -%}
        {% do exceptions.raise_compiler_error("No known SQL for the incremental strategy provided: " ~ strategy) %}
    {%- endif -%}
{% endmacro %}

{#- Rows of `target` whose key is not in the batch `source`, plus the batch, written over `target`. Runs its
    statements itself (one per call on Spark) and returns the last one, dropping the side table. -#}
{% macro spark_delete_insert_sql(source, target, unique_key) %}
    {%- if unique_key is none -%}
        {% do exceptions.raise_compiler_error("delete+insert on " ~ target ~ " needs a unique_key") %}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='name') | list -%}
    {%- set column_list = columns | join(', ') -%}
    {%- set side = target.incorporate(path={"identifier": target.identifier ~ "__sen_rewrite"}) -%}
    {%- set matches -%}
        {%- for key in keys %}batch.{{ key }} = kept.{{ key }}{% if not loop.last %} and {% endif %}{% endfor -%}
    {%- endset -%}
    {% do run_query("drop table if exists " ~ side) %}
    {% do run_query(
        "create table " ~ side ~ " using parquet as "
        ~ "select " ~ column_list ~ " from " ~ target ~ " as kept "
        ~ "where not exists (select 1 from " ~ source ~ " as batch where " ~ matches ~ ") "
        ~ "union all select " ~ column_list ~ " from " ~ source) %}
    {% do run_query("insert overwrite table " ~ target ~ " select " ~ column_list ~ " from " ~ side) %}
    drop table if exists {{ side }}
{% endmacro %}

{#- `delete from relation where condition` (post-hooks: erased persons, emptied graph rows). Spark's Parquet
    tables have no DELETE: the rows to keep are written to a side table that then overwrites the table. -#}
{% macro delete_where(relation, condition) -%}
    {{ return(adapter.dispatch('delete_where', 'sen')(relation, condition)) }}
{%- endmacro %}

{% macro default__delete_where(relation, condition) -%}
    delete from {{ relation }} where {{ condition }}
{%- endmacro %}

{% macro spark__delete_where(relation, condition) -%}
    {%- if execute -%}
        {%- set side = relation.incorporate(path={"identifier": relation.identifier ~ "__sen_rewrite"}) -%}
        {% do run_query("drop table if exists " ~ side) %}
        {% do run_query("create table " ~ side ~ " using parquet as select * from " ~ relation
            ~ " where not coalesce((" ~ condition ~ "), false)") %}
        {% do run_query("insert overwrite table " ~ relation ~ " select * from " ~ side) %}
    {%- endif %}
    drop table if exists {{ relation.incorporate(path={"identifier": relation.identifier ~ "__sen_rewrite"}) }}
{%- endmacro %}
