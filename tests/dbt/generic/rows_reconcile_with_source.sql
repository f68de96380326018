{#- Nothing vanishes: every row of a MovieLens file is either kept (`model`) or
    quarantined. Counted on the source itself rather than on the base model, so
    a row lost anywhere between the reader and the split fails the build. -#}
{% test rows_reconcile_with_source(model, source_relation, quarantine) %}
with counts as (

    select
        (select count(*) from {{ source_relation }}) as source_rows,
        (select count(*) from {{ model }}) as clean_rows,
        (select count(*) from {{ quarantine }}) as quarantined_rows

)

select *
from counts
where source_rows <> clean_rows + quarantined_rows
{% endtest %}
