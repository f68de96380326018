"""Getting MovieLens onto disk: which releases exist, how to fetch them safely,
and how to recognise a dataset folder so dbt can be pointed at it."""
