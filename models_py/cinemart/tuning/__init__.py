"""Hyper-parameter search: one grid format (`grid`), the tuning plan (`plan`), a search per model family."""
