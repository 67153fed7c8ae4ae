{#- Rank of each raw row among the versions of one contract key: 1 = the version staging keeps.
    Newest first by the given expressions (e.g. a parsed updated_at), then by load time; ties between rows of
    one load are broken by file and line, so the result is deterministic (the later line of the later file
    wins). A plain window function, so no dispatch is needed. -#}
{% macro version_rank(partition_by, newest_first=[]) -%}
    row_number() over (
        partition by {{ partition_by | join(', ') }}
        order by
            {%- for expression in newest_first %}
            {{ expression }} desc nulls last,
            {%- endfor %}
            _loaded_at desc,
            _source_file desc,
            _source_line desc
    )
{%- endmacro %}

{#- The rows of a raw relation (or CTE) that are the kept version of their key (see version_rank), all columns.
    The ranking runs on the narrow loader columns only and the winners are joined back on the row's identity
    (file checksum, line), so wide rows such as tracking JSON are not dragged through the window sort. -#}
{% macro latest_versions(relation, partition_by, newest_first=[]) -%}
    select {{ relation }}.*
    from {{ relation }}
    inner join (
        select
            _file_sha256,
            _source_line,
            {{ version_rank(partition_by, newest_first) | indent(12) }} as version_rank
        from {{ relation }}
    ) as versions
        on
            {{ relation }}._file_sha256 = versions._file_sha256
            and {{ relation }}._source_line = versions._source_line
    where versions.version_rank = 1
{%- endmacro %}
