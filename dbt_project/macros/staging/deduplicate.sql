{#- Rank of each raw row among the versions of one contract key: 1 = the version staging keeps.
    Newest first by the given expressions (e.g. a parsed updated_at), then by load time; ties between rows of
    one load are broken by file and line, so the result is deterministic (the later line of the later file
    wins). A plain window function, so no dispatch is needed. Use it in a CTE and keep `where <alias> = 1`. -#}
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
