{#-
    Connected components in SQL, for engines where the Python step (sen.identity, scipy) cannot run next to
    the data (Spark, Snowflake, BigQuery...). The Python step stays the default on DuckDB.

    Used by no model today, on purpose: kept for the Spark issue (distributed connected components, where
    the identity graph cannot be collected to one Python process). Its behaviour is pinned by
    tests/identity/test_sql_connected_components.py (agrees with scipy, few rounds on long chains); do not
    delete it as dead code.

    sen.connected_components(edges, node_a, node_b, nodes=none, node=none, max_iterations=60)
      edges:  a relation with one row per link (node_a, node_b: columns or SQL expressions giving one id)
      nodes:  optional relation of all nodes (column or expression `node`), so that nodes without links
              get a component too
    Returns a SELECT of (node, component), `component` being one node id of the component.

    Algorithm: randomised contraction. Each round every node of the remaining link graph picks, among
    itself and its neighbours, the one with the smallest hash(id, round) and is merged into it; links are
    rewritten between the merged nodes and links inside one merged node disappear. A fresh random order
    each round contracts a constant share of the graph per round in expectation, so the number of rounds
    grows with log(nodes) whatever the ids: plain min-id propagation needs one round per hop when ids
    increase along a chain. Each round is materialized (run_query); the loop stops when no link is left.
    Engine-specific pieces (seeded hash, arg-min, round tables) go through adapter.dispatch.
-#}

{% macro connected_components(edges, node_a, node_b, nodes=none, node=none, max_iterations=60) -%}
    {%- if not execute -%}
        {{ return("select cast(null as " ~ sen.text_type() ~ ") as node, cast(null as " ~ sen.text_type() ~ ") as component where 1 = 0") }}
    {%- endif -%}
    {%- set prefix = "sen_cc_" ~ local_md5(invocation_id ~ edges ~ node_a ~ node_b)[:10] -%}
    {%- set node_sql = node if node is not none else "node" -%}
    {%- set links = sen.cc_table_name(prefix ~ "_links_0") -%}
    {%- set links_sql -%}
        select distinct cast({{ node_a }} as {{ sen.text_type() }}) as a, cast({{ node_b }} as {{ sen.text_type() }}) as b from {{ edges }}
        where {{ node_a }} is not null and {{ node_b }} is not null and {{ node_a }} <> {{ node_b }}
        union
        select distinct cast({{ node_b }} as {{ sen.text_type() }}), cast({{ node_a }} as {{ sen.text_type() }}) from {{ edges }}
        where {{ node_a }} is not null and {{ node_b }} is not null and {{ node_a }} <> {{ node_b }}
    {%- endset -%}
    {%- do sen.cc_create_round_table(links, links_sql) -%}
    {%- set labels = sen.cc_table_name(prefix ~ "_labels_0") -%}
    {%- set labels_sql -%}
        select distinct a as node, a as label from {{ links }}
        {%- if nodes is not none %}
        union
        select distinct cast({{ node_sql }} as {{ sen.text_type() }}), cast({{ node_sql }} as {{ sen.text_type() }}) from {{ nodes }}
        where {{ node_sql }} is not null
        {%- endif %}
    {%- endset -%}
    {%- do sen.cc_create_round_table(labels, labels_sql) -%}
    {%- set remaining = run_query("select count(*) from " ~ links).columns[0].values()[0] -%}
    {%- set state = {"links": links, "labels": labels, "rounds": 0, "remaining": remaining} -%}
    {%- for i in range(1, max_iterations + 1) if state.remaining > 0 -%}
        {%- set choice = sen.cc_table_name(prefix ~ "_choice_" ~ i) -%}
        {%- set choice_sql -%}
            select a as node, {{ sen.cc_arg_min("candidate", sen.cc_hash("candidate", i)) }} as rep
            from (
                select a, a as candidate from {{ state.links }}
                union all
                select a, b as candidate from {{ state.links }}
            ) as closed_neighbourhood
            group by a
        {%- endset -%}
        {%- do sen.cc_create_round_table(choice, choice_sql) -%}
        {%- set next_links = sen.cc_table_name(prefix ~ "_links_" ~ i) -%}
        {%- set next_links_sql -%}
            select distinct ca.rep as a, cb.rep as b
            from {{ state.links }} as l
            inner join {{ choice }} as ca on ca.node = l.a
            inner join {{ choice }} as cb on cb.node = l.b
            where ca.rep <> cb.rep
        {%- endset -%}
        {%- do sen.cc_create_round_table(next_links, next_links_sql) -%}
        {%- set next_labels = sen.cc_table_name(prefix ~ "_labels_" ~ i) -%}
        {%- set next_labels_sql -%}
            select l.node, coalesce(c.rep, l.label) as label
            from {{ state.labels }} as l
            left join {{ choice }} as c on c.node = l.label
        {%- endset -%}
        {%- do sen.cc_create_round_table(next_labels, next_labels_sql) -%}
        {%- for old in [state.links, state.labels, choice] -%}
            {%- do sen.cc_drop_round_table(old) -%}
        {%- endfor -%}
        {%- set remaining = run_query("select count(*) from " ~ next_links).columns[0].values()[0] -%}
        {%- do state.update({"links": next_links, "labels": next_labels, "rounds": i, "remaining": remaining}) -%}
    {%- endfor -%}
    {%- if state.remaining > 0 -%}
        {{ exceptions.raise_compiler_error(
            "connected_components did not converge in " ~ max_iterations ~ " rounds; raise max_iterations") }}
    {%- endif -%}
    {%- do sen.cc_drop_round_table(state.links) -%}
    {{ log("connected_components: converged after " ~ state.rounds ~ " rounds", info=true) }}
    {{ return("select node, label as component from " ~ state.labels) }}
{%- endmacro %}

{#- 64-bit hash of an expression with a per-round seed. -#}
{% macro cc_hash(expression, seed) -%}
    {{ return(adapter.dispatch('cc_hash', 'sen')(expression, seed)) }}
{%- endmacro %}

{% macro default__cc_hash(expression, seed) -%}
    hash({{ expression }}, {{ seed }})
{%- endmacro %}

{% macro duckdb__cc_hash(expression, seed) -%}
    hash({{ expression }}, {{ seed }})
{%- endmacro %}

{% macro spark__cc_hash(expression, seed) -%}
    xxhash64({{ expression }}, {{ seed }})
{%- endmacro %}

{% macro snowflake__cc_hash(expression, seed) -%}
    hash({{ expression }}, {{ seed }})
{%- endmacro %}

{% macro bigquery__cc_hash(expression, seed) -%}
    farm_fingerprint(concat({{ expression }}, ':', cast({{ seed }} as string)))
{%- endmacro %}

{#- The value with the smallest key in a group. -#}
{% macro cc_arg_min(value, key) -%}
    {{ return(adapter.dispatch('cc_arg_min', 'sen')(value, key)) }}
{%- endmacro %}

{% macro default__cc_arg_min(value, key) -%}
    min_by({{ value }}, {{ key }})
{%- endmacro %}

{% macro duckdb__cc_arg_min(value, key) -%}
    arg_min({{ value }}, {{ key }})
{%- endmacro %}

{% macro bigquery__cc_arg_min(value, key) -%}
    array_agg({{ value }} order by {{ key }} limit 1)[offset(0)]
{%- endmacro %}

{#- Round tables. DuckDB: temporary tables on the model's connection; elsewhere tables in the target schema,
    each dropped once the next round exists (the last one is left for the model to read). -#}
{% macro cc_table_name(name) -%}
    {{ return(adapter.dispatch('cc_table_name', 'sen')(name)) }}
{%- endmacro %}

{% macro default__cc_table_name(name) -%}
    {{ return(target.schema ~ "." ~ name) }}
{%- endmacro %}

{% macro duckdb__cc_table_name(name) -%}
    {{ return(name) }}
{%- endmacro %}

{% macro cc_create_round_table(name, sql) -%}
    {{ return(adapter.dispatch('cc_create_round_table', 'sen')(name, sql)) }}
{%- endmacro %}

{% macro default__cc_create_round_table(name, sql) -%}
    {% do run_query("create or replace table " ~ name ~ " as " ~ sql) %}
{%- endmacro %}

{% macro duckdb__cc_create_round_table(name, sql) -%}
    {% do run_query("create or replace temp table " ~ name ~ " as " ~ sql) %}
{%- endmacro %}

{#- Spark: plain Parquet tables have no CREATE OR REPLACE (that needs Delta or Iceberg). -#}
{% macro spark__cc_create_round_table(name, sql) -%}
    {% do run_query("drop table if exists " ~ name) %}
    {% do run_query("create table " ~ name ~ " using parquet as " ~ sql) %}
{%- endmacro %}

{% macro cc_drop_round_table(name) -%}
    {% do run_query("drop table if exists " ~ name) %}
{%- endmacro %}
