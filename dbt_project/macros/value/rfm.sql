{#- Named RFM segment of (R, F, M) quintile scores (1-5, 5 best), as documented in the doc block
    `rfm_segments` (models/marts/value/_value__docs.md). F and M are combined into FM = (F + M) / 2 rounded half
    up, then the segment is read from the R x FM grid. -#}
{% macro rfm_fm_score(f, m) -%}
    cast(floor(({{ f }} + {{ m }} + 1) / 2.0) as integer)
{%- endmacro %}

{% macro rfm_segment(r, f, m) -%}
    {%- set fm = rfm_fm_score(f, m) -%}
    case
        when {{ r }} = 5 and {{ fm }} >= 4 then 'Champions'
        when {{ r }} = 5 and {{ fm }} >= 2 then 'Potential loyalist'
        when {{ r }} = 5 then 'New'
        when {{ r }} = 4 and {{ fm }} >= 4 then 'Loyal'
        when {{ r }} = 4 and {{ fm }} >= 2 then 'Potential loyalist'
        when {{ r }} = 4 then 'Promising'
        when {{ r }} = 3 and {{ fm }} >= 4 then 'Loyal'
        when {{ r }} = 3 then 'Need attention'
        when {{ fm }} = 5 then 'Can''t lose'
        when {{ fm }} >= 3 then 'At risk'
        when {{ r }} = 2 then 'Hibernating'
        else 'Lost'
    end
{%- endmacro %}
