{#- One side (users or movies) of a long factor table (als_factors, implicit_factors)
    as its own entity-keyed table; the four public factor tables share this shape. -#}
{% macro factor_view(factor_model, entity, model_name) -%}
select
    id as {{ entity }}_id,
    bias,
    factors,
    n_ratings,
    global_mean,
    '{{ model_name }}' as model,
    run_id
from {{ ref(factor_model) }}
where entity = '{{ entity }}'
{%- endmacro %}
