"""Evaluation, a consumer at the top beside serving: offline protocols, baselines and reports.

`splits` (protocols W and C), `conversation` (protocol F and F-tail, from C's
split), `baselines` (popularity, genre-popularity, genre-content, EASE and its
fold-in), `naive` (the rating-regression two-tower), `answers` (each method's
top-k lists, from scores or ranked lists; the model's scorer),
`preference_answers` (new users answered through `recsys.ranking`'s
`PreferenceRanker`, as the server answers them), `measure`
(per-user metrics, means over training seeds), `intervals` (paired bootstrap),
`runner` (fits every method on the same splits and measures it), `report`
(JSON, plots, table). The request reports (`bench/`) ask `personas` (every
genre alone and the fixed personas, as ranker requests) and measure with `adherence`
(genre adherence, variety, franchise caps, reasons), `colikes` (the independent
co-like lift behind "because you liked X"), `similarity` (franchise recall,
genre coherence, reliability) and `similar_baselines` (item-kNN, EASE, content);
`weight_search` is the validation search of the preference score's weights.
"""
