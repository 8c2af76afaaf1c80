"""`PreferenceRanker`: a new person's request -> a list that honours it.

The score is the trained towers' own (no item-item part): for the stated
genres and demographics without the liked movies (z0) and with them as
history (zt), standardised over the catalogue per request, plus the share of
the stated genres a movie carries and its popularity, weighted by how many
liked movies were given (`recsys.ranking.weights`). Then, in this order:

1. the stated genre groups are an ANY-of filter. Exception: when more than
   half of the liked movies carry none of them, the liked movies' genres are
   admitted too, with at most k // 2 picks outside the stated ones (never
   without liked movies);
2. the request's other filters (`allowed`: excluded genres, years);
3. liked, disliked and excluded movies are never listed;
4. each disliked movie's 10 nearest similar-movies neighbours lose 0.1
   (the largest push costing at most 0.001 validation NDCG);
5. at most 3 of one franchise; with liked movies at most H of every 10 from
   the most-liked movies;
6. with two or more genre groups, each holds at least k // (2 * groups)
   picks when it can;
7. one-genre requests leave out the titles barred for variety
   (`recsys.ranking.bans`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recsys.features.queries import UserQuery
from recsys.model.artifacts import RankingArtifacts
from recsys.model.query_model import QueryModel
from recsys.ranking.bans import GenreTypicality, variety_bans
from recsys.ranking.calibration import preference_chance
from recsys.ranking.facts import CatalogueFacts
from recsys.ranking.reasons import preference_reasons
from recsys.ranking.requests import PreferenceRequest, Ranked
from recsys.ranking.selection import Caps, capped_top, with_coverage
from recsys.ranking.terms import preference_terms
from recsys.ranking.weights import weights_for

# Liked movies "point elsewhere" when MORE than this share carries none of the stated genres.
EXCEPTION_SHARE = 0.5
DISLIKE_NEIGHBOURS, DISLIKE_PUSH = 10, 0.1
CANONICAL_K = 10  # the length of the one-genre lists the variety bans look at


class PreferenceRanker:
    """Ranks requests for one model; build once per model (it computes the variety bans)."""

    def __init__(self, model: QueryModel, artifacts: RankingArtifacts, facts: CatalogueFacts):
        facts.check_fits(model.features.n_movies)
        self.model = model
        self.artifacts = artifacts
        self.facts = facts
        # The bans are computed here from this ranker's own canonical one-genre lists, so a
        # model stores nothing for them and they always match the ranking that uses them.
        self.bans = self._variety_bans()

    def rank(self, request: PreferenceRequest) -> Ranked:
        self._check(request)
        return self._rank(request, self._trained(request), self.bans)

    # ------------------------------------------------------------------ the steps

    def _trained(self, request: PreferenceRequest) -> np.ndarray:
        """The trained scores without (row 0) and, if any, with the liked movies (row 1)."""
        fs = self.model.features
        demo = fs.has_demographics
        base = UserQuery(
            gender=request.gender if demo else None,
            age=request.age if demo else None,
            occupation=request.occupation
            if demo and request.occupation in fs.occupations
            else None,
            stated_genres=request.stated,
        )
        queries = [base]
        if request.liked:
            queries.append(UserQuery(**{**vars(base), "history": tuple(request.liked)}))
        return self.model.trained_scores(queries).astype(np.float64)

    def _rank(
        self,
        request: PreferenceRequest,
        trained: np.ndarray,
        bans: Mapping[str, frozenset[int]],
    ) -> Ranked:
        facts, k = self.facts, request.k
        liked = np.asarray(request.liked, dtype=np.int64)
        weights = weights_for(len(liked))
        terms = preference_terms(
            facts, trained[0], trained[1] if len(liked) else None, request.stated
        )
        scores = terms @ weights.vector()
        stated = facts.group_mask(request.genres)
        allowed = stated.copy()
        admitted: tuple[str, ...] = ()
        if request.genres and len(liked) and (~stated[liked]).mean() > EXCEPTION_SHARE:
            carried = np.flatnonzero(facts.genre_matrix[liked].any(axis=0))
            # A genre the request states alone is admitted already; one inside a group is not.
            admitted = tuple(
                facts.genres[c]
                for c in carried.tolist()
                if (facts.genres[c],) not in request.genres
            )
            if admitted:
                allowed |= facts.genre_matrix[:, facts.columns(admitted)].any(axis=1)
        if request.allowed is not None:
            allowed &= request.allowed
        allowed[[*request.liked, *request.disliked, *request.excluded]] = False
        if len(request.genres) == 1 and len(request.genres[0]) == 1:
            allowed[sorted(bans.get(request.genres[0][0], ()))] = False
        scores = self._pushed_from_dislikes(scores, request.disliked)
        caps = Caps(
            franchise=facts.franchises.group,
            head=facts.head if len(liked) else None,
            head_max=weights.cap_for(k),
            outside=~stated if admitted else None,
            outside_max=k // 2,
        )
        picks = capped_top(scores, allowed, k, caps)
        if len(request.genres) >= 2:
            groups = [facts.group_mask([g]) for g in request.genres]
            picks = with_coverage(picks, scores, allowed, groups, k, caps)
        items = np.asarray(picks, dtype=np.int64)
        reasons = preference_reasons(
            self.artifacts.likes, picks, liked, terms, weights.vector(), allowed
        )
        chance = preference_chance(
            self.artifacts.calibrations.preferences, scores[items], len(liked), facts.head[items]
        )
        return Ranked(
            items=items,
            scores=scores[items],
            chance=chance,
            reasons=reasons,
            exception=bool(admitted),
            admitted=admitted,
            shortfall=k - len(items),
        )

    def _pushed_from_dislikes(self, scores: np.ndarray, disliked: tuple[int, ...]) -> np.ndarray:
        if not disliked:
            return scores
        out = scores.copy()
        index = self.artifacts.neighbours.index
        for d in disliked:
            near = index[d, :DISLIKE_NEIGHBOURS]
            np.subtract.at(out, near[near >= 0], DISLIKE_PUSH)
        return out

    def _variety_bans(self) -> dict[str, frozenset[int]]:
        facts = self.facts
        present = np.flatnonzero(facts.genre_matrix.any(axis=0))
        genres = [facts.genres[c] for c in present.tolist()]
        if not genres:
            return {}
        requests = [PreferenceRequest(genres=((g,),), k=CANONICAL_K) for g in genres]
        trained = self.model.trained_scores([UserQuery(stated_genres=(g,)) for g in genres]).astype(
            np.float64
        )

        def lists_for(bans: Mapping[str, frozenset[int]]) -> dict[str, list[int]]:
            return {
                g: self._rank(r, trained[i : i + 1], bans).items.tolist()
                for i, (g, r) in enumerate(zip(genres, requests, strict=True))
            }

        columns = {g: facts.genres.index(g) for g in genres}
        return variety_bans(genres, lists_for, GenreTypicality(self.model.features), columns)

    def _check(self, request: PreferenceRequest) -> None:
        n = self.facts.n_movies
        if request.k < 1:
            raise ValueError(f"k must be at least 1, got {request.k}")
        unknown = [g for g in request.stated if g not in self.facts.genres]
        if unknown or any(not group for group in request.genres):
            raise ValueError(f"genres outside this catalogue's: {unknown or 'an empty group'}")
        movies = (*request.liked, *request.disliked, *request.excluded)
        if any(not 0 <= int(i) < n for i in movies):
            raise ValueError(f"movie indices must lie in [0, {n})")
        if request.allowed is not None and request.allowed.shape != (n,):
            raise ValueError(f"allowed must be a mask over the {n} movies")
