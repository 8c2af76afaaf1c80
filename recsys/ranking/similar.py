"""`SimilarRanker`: the movies most like an anchor, from its stored neighbours.

The stored top neighbours (`recsys.ranking.neighbours`) come first, in their
order; a filtered request that exhausts them falls back on the content part of
the blend (genres, year, tower) scored over the catalogue. At most 3 of one
franchise, except the anchor's own (the request names it). `similarity` is the
calibrated chance that a person who liked the anchor likes the movie.
"""

from __future__ import annotations

import numpy as np

from recsys.model.artifacts import RankingArtifacts
from recsys.model.query_model import QueryModel
from recsys.ranking.calibration import similarity_chance
from recsys.ranking.facts import CatalogueFacts
from recsys.ranking.neighbours import SHRINK, Content
from recsys.ranking.reasons import links
from recsys.ranking.requests import Reason, SimilarRanked
from recsys.ranking.selection import Caps, capped_top

# Stored neighbours rank above every content-only movie: their positions are mapped to
# scores above this (the content part of the blend is at most 0.6).
NEIGHBOUR_FLOOR = 10.0
# "Often rated by the same people" needs this many people who rated both, and a co-rating
# part of the blend well above float16's rounding of the stored blend (about 0.0005).
CO_RATERS_MIN, CO_PART_MIN = 5, 0.01


class SimilarRanker:
    """Similar movies for one model; build once per model."""

    def __init__(self, model: QueryModel, artifacts: RankingArtifacts, facts: CatalogueFacts):
        facts.check_fits(model.features.n_movies)
        self.artifacts = artifacts
        self.facts = facts
        self.content = Content.of(facts, model.tower_directions)

    def rank(self, anchor: int, k: int = 10, allowed: np.ndarray | None = None) -> SimilarRanked:
        n = self.facts.n_movies
        if not 0 <= anchor < n or k < 1:
            raise ValueError(f"anchor must lie in [0, {n}) and k be at least 1")
        ok = np.ones(n, dtype=bool) if allowed is None else allowed.copy()
        ok[anchor] = False
        row = self.artifacts.neighbours.index[anchor]
        stored = row[row >= 0].astype(np.int64)
        scores = np.full(n, -np.inf)
        scores[stored] = NEIGHBOUR_FLOOR + len(stored) - np.arange(len(stored))
        group = int(self.facts.franchises.group[anchor])
        caps = Caps(franchise=self.facts.franchises.group, exempt=frozenset({group} - {-1}))
        picks = capped_top(scores, ok, k, caps)
        blend = np.full(n, np.nan)
        blend[stored] = self.artifacts.neighbours.similarity[anchor, : len(stored)]
        if len(picks) < k:  # past the stored neighbours: the content part alone
            content = self.content.scores(np.array([anchor]))[0].astype(np.float64)
            rest = ok.copy()
            rest[stored] = False
            scores[rest] = content[rest]
            blend[rest] = content[rest]
            picks = capped_top(scores, ok, k, caps)
        items = np.asarray(picks, dtype=np.int64)
        values = blend[items]
        chance = similarity_chance(
            self.artifacts.calibrations.similarity, values, int(self.facts.counts[anchor])
        )
        content_part = self.content.scores(np.array([anchor]), items)[0].astype(np.float64)
        co_rated = self.co_rated(anchor, items, values - content_part)
        reasons = tuple(
            link or Reason("blend" if often else "content")
            for often, link in zip(
                co_rated, links(self.artifacts.likes, np.array([anchor]), picks), strict=True
            )
        )
        return SimilarRanked(
            anchor=anchor,
            items=items,
            blend=values,
            similarity=chance,
            reasons=reasons,
            shortfall=k - len(items),
        )

    def co_rated(self, anchor: int, items: np.ndarray, co_part: np.ndarray) -> np.ndarray:
        """Whether many people rated both the anchor and each item: the co-rating count read
        back from the blend's co-rating part, co / (sqrt(n_anchor n_item) + SHRINK)."""
        counts = self.facts.counts.astype(np.float64)
        raters = co_part * (np.sqrt(counts[anchor] * counts[items]) + SHRINK)
        out: np.ndarray = (co_part >= CO_PART_MIN) & (np.round(raters) >= CO_RATERS_MIN)
        return out
