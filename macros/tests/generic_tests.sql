{#- Generic data tests the project needs; written here because `dbt deps`
    cannot reach the package hub (no dbt_utils). Each returns failing rows. -#}

{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    1 = 0
    {%- if min_value is not none %}
    or {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
    {%- endif %}
    {%- if max_value is not none %}
    or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
    {%- endif %}
  )
{% endtest %}


{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}


{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}


{#- Exactly one row: for one-row summary tables such as dataset_overview. -#}
{% test has_exactly_one_row(model) %}
select n_rows
from (select count(*) as n_rows from {{ model }}) as counted
where n_rows <> 1
{% endtest %}


{#- Ranks within each group run 1, 2, ..., n with no gap or repeat. -#}
{% test ranks_are_contiguous(model, group_by, rank_column='rank') %}
select {{ group_by }}, count(*) as n_rows, count(distinct {{ rank_column }}) as n_ranks,
       min({{ rank_column }}) as first_rank, max({{ rank_column }}) as last_rank
from {{ model }}
group by {{ group_by }}
having min({{ rank_column }}) <> 1
    or max({{ rank_column }}) <> count(*)
    or count(distinct {{ rank_column }}) <> count(*)
{% endtest %}


{#- Within each group, `column_name` never increases as the rank grows. -#}
{% test non_increasing_by_rank(model, column_name, group_by, rank_column='rank') %}
select *
from (
    select
        {{ group_by }},
        {{ rank_column }},
        {{ column_name }},
        lag({{ column_name }}) over (partition by {{ group_by }} order by {{ rank_column }}) as previous_value
    from {{ model }}
) as ordered
where previous_value is not null and {{ column_name }} > previous_value
{% endtest %}


{#- The column adds up to `total` (within `tolerance`): shares of a whole.
    An empty table fails unless `empty_when`, a SQL condition, says there is
    no whole to share (the shares of star values on data without ratings). -#}
{% test column_sums_to(model, column_name, total, tolerance=1e-9, empty_when='false') %}
select sum({{ column_name }}) as column_sum
from {{ model }}
having (sum({{ column_name }}) is null and not ({{ empty_when }}))
    or abs(sum({{ column_name }}) - {{ total }}) > {{ tolerance }}
{% endtest %}
