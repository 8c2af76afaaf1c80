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
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.bundle.index import exact_top_k
from recsys.bundle.load import Bundle, load_bundle
from recsys.features.queries import Demographics
from recsys.model.blend import movie_directions, similarity_directions
from recsys.serving import wording
from recsys.serving.catalogue import Catalogue
from recsys.serving.errors import InvalidArgumentError, MovieNotFoundError, UnknownUserError
from recsys.serving.filters import NO_FILTERS, FilterPlan, Filters, plan, shortfall_note
from recsys.serving.inputs import check_k, is_int
from recsys.serving.people import (
    GROUP_METHOD,
    GroupItem,
    GroupMember,
    GroupResult,
    MemberFit,
    Person,
    PersonQuery,
    PersonResult,
    PersonSummary,
    group_reason,
    group_scores,
    group_top,
    interpret_demographics,
)
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
        ranked, note = self._from_history(
            self._known_user_vector(user_id),
            items,
            ratings,
            items if exclude_seen else None,
            k,
            restrict,
            profile.favourite_genres,
            f"the {len(items)} movies this user has rated",
        )
        return UserResult(profile, ranked, note)

    def _from_history(
        self,
        vector: np.ndarray,
        items: np.ndarray,
        ratings: np.ndarray,
        exclude: np.ndarray | None,
        k: int,
        restrict: FilterPlan,
        genres: Sequence[str],
        excluded_why: str,
    ) -> tuple[tuple[Recommendation, ...], str | None]:
        """The ranked list of anyone known by rated movies (a dataset user or a person):
        `exclude` (dense indices) left out, reasons citing their own likes."""
        excluded = None
        if exclude is not None and len(exclude):
            excluded = np.zeros(len(self.catalogue), dtype=bool)
            excluded[exclude] = True
        idx, cos, note = self._rank(vector, k, restrict, excluded, excluded_why)
        liked = items[ratings >= self._fs.like_threshold]
        if not len(liked) and len(items):
            liked = items[ratings >= ratings.max()]
        reasons = self._reasons(idx, liked, genres, wording.KNOWN_USER_PHRASES)
        return self._items(idx, cos, reasons), note

    # ------------------------------------------------------------------ people and groups

    @property
    def dataset_fingerprint(self) -> str:
        """The sha256 of the dataset this bundle was trained on: what a profile records."""
        return str(self.bundle.manifest["dataset"]["fingerprint"]["sha256"])

    @cached_property
    def _positions(self) -> pd.Index:
        positions: pd.Index = pd.Index(self.catalogue.movie_ids)
        return positions

    def movie_indices(self, movie_ids: Sequence[int]) -> np.ndarray:
        """Dense catalogue indices of movie ids, -1 where this catalogue has no such id."""
        ids = pd.Index(np.fromiter((int(m) for m in movie_ids), np.int64, len(movie_ids)))
        found: np.ndarray = self._positions.get_indexer(ids)
        return found

    def _person_query(self, person: Person) -> PersonQuery:
        """A person's query, built as a dataset user's is, with their rated and seen movies."""
        c = self.catalogue
        refs = [m for m, _ in person.ratings] + list(person.seen)
        bad = [m for m in refs if not is_int(m)]
        dense = self.movie_indices([] if bad else refs)
        missing = bad or [m for m, i in zip(refs, dense.tolist(), strict=True) if i < 0]
        if missing:
            raise MovieNotFoundError(
                f"{person.name}: no movie has id {', '.join(map(str, missing[:10]))} in this "
                f"model's catalogue ({len(missing)} of {len(refs)})."
            )
        items, seen = dense[: len(person.ratings)], dense[len(person.ratings) :]
        ratings = np.array([r for _, r in person.ratings], dtype=np.float32)
        stated = c.canonical_genres(person.genres, argument="genres") if person.genres else ()
        demo = interpret_demographics(
            person.age, person.occupation, person.gender, self.occupations, self.has_demographics
        )
        said: Demographics = {
            "gender": demo.gender,
            "age": demo.age_code,
            "occupation": demo.occupation,
        }
        query = self._fs.history_query(items, ratings, said, stated)
        return PersonQuery(person, query, items, ratings, seen, stated, demo)

    def _summary(self, built: PersonQuery) -> PersonSummary:
        return PersonSummary(
            name=built.person.name,
            n_ratings=len(built.items),
            n_seen=len(built.seen),
            favourite_genres=self._fs.stated_genres_of(built.items, built.ratings),
            stated_genres=built.stated,
            age_bucket=built.demographic.age_label,
            gender=built.demographic.gender,
            occupation=built.demographic.occupation,
            ignored=built.demographic.ignored,
        )

    def describe(self, person: Person) -> PersonSummary:
        """What the recommender reads of a person (favourite genres from their ratings, ...)."""
        return self._summary(self._person_query(person))

    def for_person(
        self,
        person: Person,
        k: int = 10,
        filters: Filters = NO_FILTERS,
        exclude_seen: bool = True,
    ) -> PersonResult:
        """Recommendations for someone known by their own ratings, oldest first: the same
        path as `for_user` (their query, the item-item part, exclusions, reasons)."""
        check_k(k)
        restrict = plan(filters, self.catalogue)
        built = self._person_query(person)
        query = built.query
        ranked, note = self._from_history(
            self._model.embed_queries([query])[0],
            built.items,
            built.ratings,
            np.concatenate([built.items, built.seen]) if exclude_seen else None,
            k,
            restrict,
            query.stated_genres,
            f"the {len(built.items) + len(built.seen)} movies {person.name} has rated or seen",
        )
        if not query.history and not query.stated_genres and not built.demographic.used:
            note = note or wording.NO_PREFERENCES_NOTE
        return PersonResult(self._summary(built), ranked, note)

    def for_group(
        self, people: Sequence[Person], k: int = 10, filters: Filters = NO_FILTERS
    ) -> GroupResult:
        """One list for several people watching together, fair to each (see `people`):
        every member's rated and seen movies are left out."""
        check_k(k)
        restrict = plan(filters, self.catalogue)
        if len(people) < 2:
            raise InvalidArgumentError("a group needs at least two people")
        built = [self._person_query(p) for p in people]
        vectors = self._model.embed_queries([b.query for b in built])
        units = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        scores = group_scores(np.einsum("md,nd->mn", units, self._emb))  # einsum: no BLAS threads
        base = np.ones(len(self.catalogue), dtype=bool)
        for b in built:
            base[b.items] = False
            base[b.seen] = False
        allowed = base if restrict.mask is None else base & restrict.mask
        picks = group_top(scores, allowed, k)
        note = None
        if len(picks) < k:
            why = "the movies any member has rated or seen"
            note = shortfall_note(len(picks), k, restrict, base, why)
        who = [p.name for p in people]
        ranked = []
        for rank, i in enumerate(picks.tolist(), start=1):
            info = self.catalogue.info(i)
            pct = [float(scores.percentile[m, i]) for m in range(len(people))]
            fits = tuple(
                MemberFit(name, round(p, 1), round(float(scores.z[m, i]), 3))
                for m, (name, p) in enumerate(zip(who, pct, strict=True))
            )
            ranked.append(
                GroupItem(
                    rank=rank,
                    movie_id=info.movie_id,
                    title=info.title,
                    year=info.year,
                    genres=info.genres,
                    score=round(float(scores.group[i]), 4),
                    reason=group_reason(who, pct),
                    members=fits,
                    dataset_title=info.dataset_title,
                    imdb_url=info.imdb_url,
                    tmdb_url=info.tmdb_url,
                )
            )
        members = tuple(
            GroupMember(
                profile=b.person.name,
                n_ratings=len(b.items),
                n_seen=len(b.seen),
                favourite_genres=self._fs.stated_genres_of(b.items, b.ratings),
                list_fit=round(float(scores.percentile[m, picks].mean()), 1) if len(picks) else 0.0,
            )
            for m, b in enumerate(built)
        )
        return GroupResult(members, tuple(ranked), GROUP_METHOD, note)

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
        demo = interpret_demographics(
            age, occupation, gender, self.occupations, self.has_demographics
        )
        ignored = list(demo.ignored)
        age_bucket_code, age_label = demo.age_code, demo.age_label
        sex, occ = demo.gender, demo.occupation
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
        demo_used = demo.used
        reasons = self._reasons(idx, liked, canon, wording.preference_phrases(demo.who()))
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
