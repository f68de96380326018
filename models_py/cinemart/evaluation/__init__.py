"""How models are judged: rating and ranking metrics, and the evaluation protocol outside dbt."""
