"""Stage 2, dataset -> features: what the towers read.

`taste` (what counts as a like, the genre matrix, stated genres),
`queries` (`UserQuery`, the one user-tower input), `space` (`FeatureSpace`,
the movie and user arrays fitted on training ratings), `encoding` (queries
as tower input arrays).
"""
