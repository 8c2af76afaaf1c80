"""Evaluation, a consumer at the top beside serving: offline protocols, baselines and reports.

`splits` (protocols W and C), `baselines` (popularity, genre-popularity,
genre-content, EASE), `naive` (the rating-regression two-tower), `runner`
(fits every method on the same splits and measures it), `report` (JSON,
plots, table).
"""
