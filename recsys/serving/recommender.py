"""The Recommender: the use cases the MCP server offers, over one verified model bundle.

Known users are answered from their training history (the model score, the
cosine of the two towers' unit vectors); new users from stated genres,
demographics, liked, disliked and excluded movies through
`recsys.ranking.PreferenceRanker` (the stated genres are its filter); similar
movies through `recsys.ranking.SimilarRanker`. Every list is filtered before
the cut to k, so a filter never leaves a list short while matching movies
remain. `score` is the estimated chance the person likes the movie, in [0, 1],
in every list (`recsys.serving.answers`). Errors are `RecommenderError`s whose
message tells the caller (often an LLM) what to do.

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

from recsys.bundle.load import Bundle, load_bundle
from recsys.features.queries import Demographics
from recsys.ranking.calibration import known_user_logits, sigmoid
from recsys.ranking.requests import PreferenceRequest
from recsys.serving import answers, notes, wording
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
    own_ranks,
)
from recsys.serving.rankers import rankers_for
from recsys.serving.results import (
    Interpretation,
    MovieInfo,
    PreferenceResult,
    Recommendation,
    SimilarResult,
    TitleMatch,
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
        # The preference and similar-movie rankers, and what they read of the catalogue.
        self._rankers = rankers_for(bundle)
        assert model.ranking is not None  # rankers_for refuses a model without artifacts
        self._artifacts = model.ranking
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

    def title_matches(
        self, query: str, k: int = 10, filters: Filters = NO_FILTERS
    ) -> tuple[TitleMatch, ...]:
        """Movies whose title matches `query`, best match first (exact, prefix, every word,
        spelling; then the more rated movie), each with how it matched."""
        check_k(k)
        restrict = plan(filters, self.catalogue)
        if not isinstance(query, str) or not query.strip():
            raise InvalidArgumentError("query must be a non-empty title, e.g. 'The Matrix'")
        hits = self.catalogue.title_index.search(query, k=k, allowed=restrict.mask)
        return tuple(TitleMatch(self.catalogue.info(h.index), h.kind) for h in hits)

    def search(
        self, query: str, k: int = 10, filters: Filters = NO_FILTERS
    ) -> tuple[MovieInfo, ...]:
        return tuple(m.movie for m in self.title_matches(query, k, filters))

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
    ) -> tuple[np.ndarray, np.ndarray, str | None]:
        """Top-k (indices, cosines) from the index, with filters and exclusions applied
        before the cut."""
        n = len(self.catalogue)
        base = np.ones(n, dtype=bool) if excluded is None else ~excluded
        allowed = base if restrict.mask is None else base & restrict.mask
        restricted = restrict.mask is not None or excluded is not None
        idx, cos = self._index.query(vector, k, allowed if restricted else None)
        note = None
        if len(idx) < k:
            note = shortfall_note(len(idx), k, restrict, base, excluded_why)
        return idx, cos, note

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
        calibration = self._artifacts.calibrations.known_users
        chance = answers.known_chances(calibration, self._emb, vector, cos, len(items))
        reasons = answers.known_reasons(self.catalogue, self._artifacts.likes, idx, liked, genres)
        return answers.recommendations(self.catalogue, idx, chance, reasons), note

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
        path as `for_user` (their query, the item-item part, exclusions, reasons); with
        nothing rated yet, the path of `for_preferences` (stated genres, demographics)."""
        check_k(k)
        restrict = plan(filters, self.catalogue)
        built = self._person_query(person)
        query = built.query
        why = f"the {len(built.items) + len(built.seen)} movies {person.name} has rated or seen"
        if not len(built.items):
            # Nothing rated yet: stated genres and demographics, answered as
            # recommend_for_preferences answers them (seen movies left out).
            ranked, note = self._thin(built, k, restrict, exclude_seen, why)
        else:
            ranked, note = self._from_history(
                self._model.embed_queries([query])[0],
                built.items,
                built.ratings,
                np.concatenate([built.items, built.seen]) if exclude_seen else None,
                k,
                restrict,
                query.stated_genres,
                why,
            )
        if not query.history and not query.stated_genres and not built.demographic.used:
            note = note or wording.NO_PREFERENCES_NOTE
        return PersonResult(self._summary(built), ranked, note)

    def _thin(
        self, built: PersonQuery, k: int, restrict: FilterPlan, exclude_seen: bool, why: str
    ) -> tuple[tuple[Recommendation, ...], str | None]:
        demo = built.demographic
        request = PreferenceRequest(
            genres=tuple((g,) for g in built.stated),
            gender=demo.gender,
            age=demo.age_code,
            occupation=demo.occupation,
            excluded=tuple(int(i) for i in built.seen) if exclude_seen else (),
            allowed=restrict.mask,
            k=k,
        )
        ranked = self._rankers.preferences.rank(request)
        reasons = answers.preference_reasons(self.catalogue, ranked, built.stated, demo.who())
        note = None
        if ranked.shortfall:
            base = np.ones(len(self.catalogue), dtype=bool)
            base[list(request.excluded)] = False
            stated = notes.with_stated_genres(
                restrict, request.genres, self._rankers.facts.group_mask(request.genres)
            )
            note = shortfall_note(len(ranked.items), k, stated, base, why)
        return answers.recommendations(self.catalogue, ranked.items, ranked.chance, reasons), note

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
        calibration = self._artifacts.calibrations.known_users
        own = own_ranks(scores, allowed, picks)
        chances = np.stack(
            [
                sigmoid(known_user_logits(calibration, scores.z[m, picks], len(b.items), own[m]))
                for m, b in enumerate(built)
            ]
        ).reshape(len(built), len(picks))
        ranked = []
        for rank, (j, i) in enumerate(enumerate(picks.tolist()), start=1):
            info = self.catalogue.info(i)
            pct = [float(scores.percentile[m, i]) for m in range(len(people))]
            fits = tuple(
                MemberFit(
                    name, round(p, 1), round(float(scores.z[m, i]), 3), round(chances[m, j], 4)
                )
                for m, (name, p) in enumerate(zip(who, pct, strict=True))
            )
            ranked.append(
                GroupItem(
                    rank=rank,
                    movie_id=info.movie_id,
                    title=info.title,
                    year=info.year,
                    genres=info.genres,
                    score=round(float(chances[:, j].min()), 4),
                    reason=group_reason(who, pct),
                    members=fits,
                    group_score=round(float(scores.group[i]), 4),
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
        disliked_movies: Sequence[int | str] = (),
        exclude_movies: Sequence[int | str] = (),
    ) -> PreferenceResult:
        """A new person's list (`recsys.ranking.preferences`): the stated genres are its
        ANY-of filter (a group such as "rom-com" needs all its genres) unless most liked
        movies carry none of them; `filters` narrow it further. Liked, disliked and excluded
        movies (ids or titles) are never listed; disliked ones push their neighbours down."""
        check_k(k)
        groups = self.catalogue.genre_groups(genres or (), argument="genres")
        restrict = plan(filters, self.catalogue)
        demo = interpret_demographics(
            age, occupation, gender, self.occupations, self.has_demographics
        )
        liked = self._resolve_all(liked_movies)
        disliked = self._resolve_all(disliked_movies)
        excluded = self._resolve_all(exclude_movies)
        both = set(liked) & set(disliked)
        if both:
            names = "; ".join(self.catalogue.display[i] for i in sorted(both))
            raise InvalidArgumentError(f"{names}: a movie cannot be both liked and disliked")
        request = PreferenceRequest(
            genres=groups,
            gender=demo.gender,
            age=demo.age_code,
            occupation=demo.occupation,
            liked=tuple(liked),
            disliked=tuple(disliked),
            excluded=tuple(excluded),
            allowed=restrict.mask,
            k=k,
        )
        ranked = self._rankers.preferences.rank(request)
        stated = request.stated
        genre_words = (*stated, *ranked.admitted)
        reasons = answers.preference_reasons(self.catalogue, ranked, genre_words, demo.who())
        said: list[str] = []
        if ranked.exception:
            said.append(notes.exception_note(groups, ranked.admitted, k))
        if ranked.shortfall:
            gone = np.zeros(len(self.catalogue), dtype=bool)
            gone[[*liked, *disliked, *excluded]] = True
            mask = self._rankers.facts.group_mask(groups)
            if ranked.exception:
                mask = mask | self.catalogue.group_mask([(g,) for g in ranked.admitted])
            stated_plan = notes.with_stated_genres(restrict, groups, mask)
            said.append(
                shortfall_note(len(ranked.items), k, stated_plan, ~gone, "the movies you named")
            )
        # Said whether or not the model reads ages: none filters by them.
        child = notes.child_note(int(age) if is_int(age) else None, genre_words)
        if child:
            said.append(child)
        if not groups and not liked and not demo.used:
            said.append(wording.NO_PREFERENCES_NOTE)
        interpretation = Interpretation(
            genres=stated,
            age=int(age) if demo.age_code is not None and age is not None else None,
            age_bucket=demo.age_label,
            occupation=demo.occupation,
            gender=demo.gender,
            liked_movies=tuple(self.catalogue.info(i) for i in liked),
            ignored=tuple(demo.ignored),
            genre_groups=groups,
            disliked_movies=tuple(self.catalogue.info(i) for i in disliked),
            excluded_movies=tuple(self.catalogue.info(i) for i in excluded),
            admitted_genres=ranked.admitted,
        )
        items = answers.recommendations(self.catalogue, ranked.items, ranked.chance, reasons)
        return PreferenceResult(interpretation, demo.used, items, " ".join(said) or None)

    def _resolve_all(self, refs: Sequence[int | str] | int | str) -> list[int]:
        """Dense indices of the movies named (ids or titles), each once, in the order given."""
        if isinstance(refs, str | int):
            refs = [refs]
        out: list[int] = []
        for ref in refs:
            i = self.catalogue.resolve(ref)
            if i not in out:
                out.append(i)
        return out

    # ------------------------------------------------------------------ similar movies

    def similar_movies(
        self, movie: int | str, k: int = 10, filters: Filters = NO_FILTERS
    ) -> SimilarResult:
        """The movies most like one movie (`recsys.ranking.similar`): `similarity` is the
        estimated chance that a person who liked it likes each of them."""
        check_k(k)
        restrict = plan(filters, self.catalogue)
        anchor = self.catalogue.resolve(movie)
        info = self.catalogue.info(anchor)
        ranked = self._rankers.similar.rank(anchor, k, restrict.mask)
        note = None
        if ranked.shortfall:
            base = np.ones(len(self.catalogue), dtype=bool)
            base[anchor] = False
            note = shortfall_note(len(ranked.items), k, restrict, base, "the movie itself")
        reasons = answers.similar_reasons(self.catalogue, ranked)
        items = answers.recommendations(
            self.catalogue, ranked.items, None, reasons, ranked.similarity
        )
        return SimilarResult(info, items, note)
