"""The Recommender: the use cases the MCP server offers, over one verified model bundle.

Known users are answered from their training history, new users from stated
genres / demographics / liked movies, and movie-to-movie similarity from the
movie embeddings. Every list is ranked by the model score (cosine of the two
towers' unit vectors / temperature) and filtered before the cut to k, so a
filter never leaves a list short while matching movies remain. Errors are
`RecommenderError`s whose message tells the caller (often an LLM) what to do.

Thread safety: the index, catalogue and arrays are read-only after load, so
one Recommender can serve many threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from recsys.bundle.index import exact_top_k
from recsys.bundle.load import Bundle, load_bundle
from recsys.data import vocab
from recsys.model.blend import movie_directions, similarity_directions
from recsys.serving import wording
from recsys.serving.catalogue import Catalogue
from recsys.serving.errors import InvalidArgumentError, UnknownUserError
from recsys.serving.filters import NO_FILTERS, FilterPlan, Filters, plan, shortfall_note
from recsys.serving.inputs import age_code, check_k, gender_code, is_int
from recsys.serving.results import (
    Interpretation,
    MovieInfo,
    PreferenceResult,
    Recommendation,
    SimilarResult,
    UserProfile,
    UserResult,
)

# Known users' tower outputs never change for a loaded bundle: computed once at
# load up to this many users (about 0.1 s for ml-latest-small's 610).
PRECOMPUTE_MAX_USERS = 50_000


class Recommender:
    """Recommendations, similar movies and title search from one model bundle."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        model = bundle.model
        self._model = model
        self._fs = model.features
        self._index = bundle.index
        self._emb = bundle.index.embeddings
        self.catalogue = Catalogue(bundle.movies, model.features)
        self.genres = self.catalogue.genres
        self.occupations: tuple[str, ...] = tuple(self._fs.occupations)
        self.has_demographics = bool(self._fs.has_demographics)
        # For "because you liked X" reasons: each movie's direction without the norm
        # coordinate, which says how broadly a movie is liked, not what it is like.
        self._directions = movie_directions(self._emb)
        # Movie-to-movie similarity with an item-item part: its own directions,
        # scored exactly (see recsys.model.blend.SIMILARITY_ITEM_WEIGHT).
        blend = model.item_blend
        self._similar = None if blend is None else similarity_directions(self._emb, blend)
        users = bundle.users
        self._user_rows = {int(u): i for i, u in enumerate(users["user_id"])}
        self._users = users
        self._known_vectors = self._embed_known_users()

    @classmethod
    def load(cls, bundle_dir: str | Path) -> Recommender:
        """Load and verify a bundle (raises recsys.bundle.manifest.BundleError); served with
        numpy, without torch."""
        return cls(load_bundle(Path(bundle_dir)))

    def _embed_known_users(self) -> np.ndarray | None:
        user_ids = self._fs.user_ids
        if len(user_ids) > PRECOMPUTE_MAX_USERS:
            return None
        vectors = np.zeros((len(user_ids), self._emb.shape[1]), dtype=np.float32)
        for start in range(0, len(user_ids), 256):
            chunk = user_ids[start : start + 256]
            queries = [self._model.known_user_query(int(u)) for u in chunk]
            vectors[start : start + len(chunk)] = self._model.embed_queries(queries)
        return vectors

    def _known_user_vector(self, user_id: int) -> np.ndarray:
        index = self._fs.user_index(user_id)
        vector: np.ndarray
        if self._known_vectors is not None and index is not None:
            vector = self._known_vectors[index]
        else:
            vector = self._model.embed_queries([self._model.known_user_query(user_id)])[0]
        return vector

    # ------------------------------------------------------------------ metadata

    def model_card(self) -> dict[str, Any]:
        m = self.bundle.manifest
        total = sum(int(e.get("bytes", 0)) for e in m.get("files", {}).values())
        return {
            "dataset": m["dataset"]["name"],
            "dataset_format": m["dataset"].get("format"),
            "created_at": m.get("created_at"),
            "format_version": m.get("format_version"),
            "n_movies": len(self.catalogue),
            "n_users": int(self._fs.n_users),
            "n_ratings": m["dataset"].get("n_ratings"),
            "embedding_dim": int(self._emb.shape[1]),
            "temperature": self._model.config.temperature,
            "has_demographics": self.has_demographics,
            "genres": list(self.genres),
            "occupations": list(self.occupations),
            "user_id_range": list(self.user_id_range()),
            "evaluation": m.get("evaluation", {}),
            "model_config": asdict(self._model.config),
            "train_config": self._model.training,
            "index": m.get("index", {}),
            "bundle_bytes": total,
        }

    def user_id_range(self) -> tuple[int, int]:
        ids = self._fs.user_ids
        return (int(ids.min()), int(ids.max())) if len(ids) else (0, 0)

    def canonical_genres(self, genres: Sequence[str] | str) -> tuple[str, ...]:
        return self.catalogue.canonical_genres(genres)

    # ------------------------------------------------------------------ movies

    def movie(self, movie_id: int) -> MovieInfo:
        return self.catalogue.movie(movie_id)

    def search(
        self, query: str, k: int = 10, filters: Filters = NO_FILTERS
    ) -> tuple[MovieInfo, ...]:
        check_k(k)
        restrict = plan(filters, self.catalogue)
        if not isinstance(query, str) or not query.strip():
            raise InvalidArgumentError("query must be a non-empty title, e.g. 'The Matrix'")
        hits = self.catalogue.title_index.search(query, k=k, allowed=restrict.mask)
        return tuple(self.catalogue.info(h.index) for h in hits)

    def resolve_movie(self, ref: int | str) -> MovieInfo:
        return self.catalogue.info(self.catalogue.resolve(ref))

    # ------------------------------------------------------------------ ranking

    def _rank(
        self,
        vector: np.ndarray,
        k: int,
        restrict: FilterPlan,
        excluded: np.ndarray | None,
        excluded_why: str,
        exact_over: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, str | None]:
        """Top-k (indices, cosines) with filters and exclusions applied before the cut:
        from the index, or scored exactly over the rows of `exact_over` when given."""
        n = len(self.catalogue)
        base = np.ones(n, dtype=bool) if excluded is None else ~excluded
        allowed = base if restrict.mask is None else base & restrict.mask
        restricted = restrict.mask is not None or excluded is not None
        if exact_over is not None:
            idx, cos = exact_top_k(exact_over, vector, k, allowed if restricted else None)
        else:
            idx, cos = self._index.query(vector, k, allowed if restricted else None)
        note = None
        if len(idx) < k:
            note = shortfall_note(len(idx), k, restrict, base, excluded_why)
        return idx, cos, note

    def _items(
        self,
        idx: np.ndarray,
        cos: np.ndarray,
        reasons: Sequence[str],
        with_similarity: bool = False,
    ) -> tuple[Recommendation, ...]:
        out = []
        temperature = self._model.config.temperature
        for rank, (i, c, why) in enumerate(zip(idx.tolist(), cos.tolist(), reasons, strict=True)):
            info = self.catalogue.info(i)
            out.append(
                Recommendation(
                    rank=rank + 1,
                    movie_id=info.movie_id,
                    title=info.title,
                    year=info.year,
                    genres=info.genres,
                    score=round(c / temperature, 4),
                    reason=why,
                    similarity=round(c, 4) if with_similarity else None,
                    dataset_title=info.dataset_title,
                    imdb_url=info.imdb_url,
                    tmdb_url=info.tmdb_url,
                )
            )
        return tuple(out)

    def _reasons(
        self,
        picks: np.ndarray,
        liked: np.ndarray,
        genres: Sequence[str],
        phrases: tuple[str, str, str],
    ) -> list[str]:
        c = self.catalogue
        return wording.taste_reasons(
            picks, liked, genres, c.movie_genres, c.display, self._directions, phrases
        )

    # ------------------------------------------------------------------ known users

    def _profile(self, user_id: int) -> UserProfile:
        row = self._users.iloc[self._user_rows[user_id]]
        return UserProfile(
            user_id=user_id,
            n_ratings=int(row["n_ratings"]),
            favourite_genres=tuple(row["favourite_genres"]),
            gender=row["gender"],
            age=row["age"],
            occupation=row["occupation"],
        )

    def for_user(
        self,
        user_id: int,
        k: int = 10,
        filters: Filters = NO_FILTERS,
        exclude_seen: bool = True,
    ) -> UserResult:
        check_k(k)
        restrict = plan(filters, self.catalogue)
        if not is_int(user_id):
            raise InvalidArgumentError(f"user_id must be an integer, got {user_id!r}")
        user_id = int(user_id)
        if self._fs.user_index(user_id) is None or user_id not in self._user_rows:
            lo, hi = self.user_id_range()
            raise UnknownUserError(
                f"User {user_id} is not in this model's training data. Known user ids lie in "
                f"{lo}..{hi} ({self._fs.n_users} users). For someone new, use recommendations "
                "from stated preferences (genres, liked movies) instead."
            )
        profile = self._profile(user_id)
        items, ratings = self._model.user_history(user_id)
        vector = self._known_user_vector(user_id)
        excluded = None
        if exclude_seen and len(items):
            excluded = np.zeros(len(self.catalogue), dtype=bool)
            excluded[items] = True
        idx, cos, note = self._rank(
            vector, k, restrict, excluded, f"the {len(items)} movies this user has rated"
        )
        liked = items[ratings >= self._fs.like_threshold]
        if not len(liked) and len(items):
            liked = items[ratings >= ratings.max()]
        reasons = self._reasons(idx, liked, profile.favourite_genres, wording.KNOWN_USER_PHRASES)
        return UserResult(profile, self._items(idx, cos, reasons), note)

    # ------------------------------------------------------------------ stated preferences

    def for_preferences(
        self,
        genres: Sequence[str],
        age: int | None = None,
        occupation: str | None = None,
        gender: str | None = None,
        liked_movies: Sequence[int | str] = (),
        k: int = 10,
        filters: Filters = NO_FILTERS,
    ) -> PreferenceResult:
        check_k(k)
        canon = self.catalogue.canonical_genres(genres or (), argument="genres")
        restrict = plan(filters, self.catalogue)
        ignored: list[str] = []
        age_bucket_code: int | None = None
        age_label: str | None = None
        if age is not None:
            age_bucket_code, age_label = age_code(age)
        sex = None
        if gender is not None and str(gender).strip():
            sex = gender_code(str(gender))
            if sex is None:
                ignored.append(
                    f"gender {gender!r}: the training data records only male/female, "
                    "so it is left out"
                )
        occ = None
        if occupation is not None and str(occupation).strip() and self.has_demographics:
            occ = vocab.match_occupation(str(occupation), list(self.occupations))
            if occ is None:
                ignored.append(
                    f"occupation {occupation!r}: no match among the model's occupations "
                    f"({', '.join(self.occupations)})"
                )
        if not self.has_demographics:
            why = "this model was trained without demographics"
            if age is not None:
                ignored.append(f"age {age}: {why}")
            if sex is not None:
                ignored.append(f"gender {gender}: {why}")
            if occupation is not None and str(occupation).strip():
                ignored.append(f"occupation {occupation!r}: {why}")
            age_bucket_code = age_label = sex = occ = None
        if isinstance(liked_movies, str | int):
            liked_movies = [liked_movies]
        liked_idx: list[int] = []
        for ref in liked_movies:
            i = self.catalogue.resolve(ref)
            if i not in liked_idx:
                liked_idx.append(i)
        liked_infos = tuple(self.catalogue.info(i) for i in liked_idx)
        query = self._model.preference_query(
            canon,
            age=age_bucket_code,
            occupation=occ,
            gender=sex,
            liked_movie_ids=[info.movie_id for info in liked_infos],
        )
        vector = self._model.embed_queries([query])[0]
        liked = np.asarray(liked_idx, dtype=np.int64)
        excluded = None
        if len(liked):
            excluded = np.zeros(len(self.catalogue), dtype=bool)
            excluded[liked] = True
        idx, cos, note = self._rank(vector, k, restrict, excluded, "the movies you liked")
        demo_used = any(v is not None for v in (age_bucket_code, sex, occ))
        who = None
        if demo_used:
            men_women = {"M": "men", "F": "women"}.get(sex or "")
            who = ", ".join(v for v in (age_label, men_women, occ) if v)
        reasons = self._reasons(idx, liked, canon, wording.preference_phrases(who))
        if not canon and not liked_infos and not demo_used and note is None:
            note = wording.NO_PREFERENCES_NOTE
        interpretation = Interpretation(
            genres=canon,
            age=int(age) if age_bucket_code is not None and age is not None else None,
            age_bucket=age_label,
            occupation=occ,
            gender=sex,
            liked_movies=liked_infos,
            ignored=tuple(ignored),
        )
        return PreferenceResult(interpretation, demo_used, self._items(idx, cos, reasons), note)

    # ------------------------------------------------------------------ similar movies

    def similar_movies(
        self, movie: int | str, k: int = 10, filters: Filters = NO_FILTERS
    ) -> SimilarResult:
        check_k(k)
        restrict = plan(filters, self.catalogue)
        anchor = self.catalogue.resolve(movie)
        info = self.catalogue.info(anchor)
        excluded = np.zeros(len(self.catalogue), dtype=bool)
        excluded[anchor] = True
        if self._similar is None:
            idx, cos, note = self._rank(
                self._emb[anchor], k, restrict, excluded, "the movie itself"
            )
        else:
            idx, cos, note = self._rank(
                self._similar[anchor], k, restrict, excluded, "the movie itself", self._similar
            )
        reasons = wording.similar_reasons(idx, info.title, info.genres, self.catalogue.movie_genres)
        return SimilarResult(info, self._items(idx, cos, reasons, with_similarity=True), note)
