"""Stage 5, model -> lists that honour a request: what turns a model's scores into an answer.

`requests` (`PreferenceRequest` and the result types), `facts` (the catalogue
facts rankers read: genres, years, franchises, popularity), `weights` (the
preference score's weights and head cap by the number of liked movies),
`terms` (the score's terms over the catalogue), `selection` (walking the score
order under the caps; genre coverage), `colikes` (co-like counts, the like
index, lifts), `neighbours` (the similar-movies blend, top-K block-wise),
`reasons` (what drove each pick), `calibration` (scores as chances;
reliability), `bans` (variety across one-genre lists), `preferences`
(`PreferenceRanker`), `similar` (`SimilarRanker`).

Serving and evaluation rank through here (neither imports the other);
training computes a model's neighbours, likes and calibrations with it.
"""
