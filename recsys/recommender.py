"""The Recommender: the one object the MCP server talks to.

It answers from a verified model bundle: known users from their training
history, new users from stated genres / demographics / liked movies, and
movie-to-movie similarity from the movie embeddings. Every list is ranked by
the model score (cosine of the two towers' unit vectors / temperature) and
filtered before the cut to k, so a filter never leaves a list short while
matching movies remain. Errors are `RecommenderError`s whose message tells the
caller (often an LLM) what to do instead.

Thread safety: the index, title index and arrays are read-only after load,
and the model serialises its own torch calls, so one Recommender can serve
many threads.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recsys import vocab
from recsys.bundle import Bundle, load_bundle
from recsys.index import exact_top_k
from recsys.titles import TitleIndex
from recsys.tower import movie_directions, similarity_directions

MAX_K = 100
MIN_AGE, MAX_AGE = 1, 120
# A recommendation is explained by the nearest liked movie when it is at least this close.
REASON_MIN_COSINE = 0.3
_GENDERS = {
    "m": "M", "male": "M", "man": "M", "boy": "M", "masculine": "M", "he": "M",
    "f": "F", "female": "F", "woman": "F", "girl": "F", "feminine": "F", "she": "F",
}  # fmt: skip


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Filters:
    """Restrictions applied before the cut to k.

    A movie passes when it has ANY of `genres` (if given), NONE of
    `exclude_genres`, a known year inside [year_min, year_max] (if either is
    given), and its id is not in `exclude_movie_ids`.
    """

    genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    exclude_movie_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class MovieInfo:
    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    n_ratings: int
    mean_rating: float | None


@dataclass(frozen=True)
class Recommendation:
    rank: int
    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    score: float
    reason: str
    similarity: float | None = None


@dataclass(frozen=True)
class UserProfile:
    user_id: int
    n_ratings: int
    favourite_genres: tuple[str, ...]
    gender: str | None
    age: str | None
    occupation: str | None


@dataclass(frozen=True)
class Interpretation:
    genres: tuple[str, ...]
    age: int | None
    age_bucket: str | None
    occupation: str | None
    gender: str | None
    liked_movies: tuple[MovieInfo, ...]
    ignored: tuple[str, ...]


@dataclass(frozen=True)
class UserResult:
    user: UserProfile
    items: tuple[Recommendation, ...]
    note: str | None


@dataclass(frozen=True)
class PreferenceResult:
    interpreted: Interpretation
    demographics_used: bool
    items: tuple[Recommendation, ...]
    note: str | None


@dataclass(frozen=True)
class SimilarResult:
    movie: MovieInfo
    items: tuple[Recommendation, ...]
    note: str | None


# --------------------------------------------------------------------------- errors


class RecommenderError(ValueError):
    """Base class; the message is an instruction the caller can act on."""


class UnknownUserError(RecommenderError):
    pass


class UnknownGenreError(RecommenderError):
    pass


class MovieNotFoundError(RecommenderError):
    pass


class AmbiguousMovieError(RecommenderError):
    def __init__(self, message: str, candidates: tuple[MovieInfo, ...] = ()) -> None:
        super().__init__(message)
        self.candidates = candidates


class InvalidArgumentError(RecommenderError):
    pass


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _FilterPlan:
    mask: np.ndarray | None  # movies passing every filter; None = no filter
    parts: tuple[tuple[str, np.ndarray], ...] = field(default=())  # (description, mask)


def _label(info: MovieInfo) -> str:
    return f"{info.title} (id {info.movie_id})"


def _names(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class Recommender:
    """Recommendations, similar movies and title search from one model bundle."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        model = bundle.model
        fs = model.features
        self._model = model
        self._fs = fs
        self._index = bundle.index
        self._emb = bundle.index.embeddings
        # For "because you liked X" reasons: each movie's direction without the
        # norm coordinate (if the model has one), which says how broadly a movie is
        # liked, not what it is like.
        self._directions = movie_directions(
            self._emb, bool(model.model_config.get("norm_coordinate", False))
        )
        # Movie-to-movie similarity with an item-item part: its own directions,
        # scored exactly (see tower.SIMILARITY_ITEM_WEIGHT); without one, the index.
        blend = model.item_blend
        self._similar = None if blend is None else similarity_directions(self._emb, blend)
        self._temperature = float(model.temperature)
        self.genres: tuple[str, ...] = tuple(fs.genres)
        self.occupations: tuple[str, ...] = tuple(fs.occupations)
        self.has_demographics: bool = bool(fs.has_demographics)
        movies = bundle.movies
        self._movie_ids = movies["movie_id"].to_numpy(dtype=np.int64)
        self._titles: list[str] = [str(t) for t in movies["title"]]
        self._years = movies["year"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        self._movie_genres: list[tuple[str, ...]] = list(movies["genres"])
        self._genre_matrix = np.asarray(fs.movie_genres) > 0
        self._genre_col = {g: j for j, g in enumerate(self.genres)}
        self._n_ratings = movies["n_ratings"].to_numpy(dtype=np.int64)
        self._mean_rating = movies["mean_rating"].to_numpy(dtype=np.float64)
        self._titles_index = TitleIndex.build(self._titles, self._years, self._n_ratings)
        users = bundle.users
        self._user_rows = {int(u): i for i, u in enumerate(users["user_id"])}
        self._users = users
        self._known_vectors = self._embed_known_users()

    # Known users' tower outputs never change for a loaded bundle: computing them
    # once here takes a batched pass (about 0.1 s for ml-latest-small's 610 users)
    # and keeps torch off the recommend_for_user path.
    _PRECOMPUTE_MAX_USERS = 50_000

    def _embed_known_users(self) -> np.ndarray | None:
        user_ids = self._fs.user_ids
        if len(user_ids) > self._PRECOMPUTE_MAX_USERS:
            return None
        vectors = np.zeros((len(user_ids), self._emb.shape[1]), dtype=np.float32)
        for start in range(0, len(user_ids), 256):
            chunk = user_ids[start : start + 256]
            queries = [self._model.known_user_query(int(u)) for u in chunk]
            vectors[start : start + len(chunk)] = self._model.embed_queries(queries)
        return vectors

    def _known_user_vector(self, user_id: int) -> np.ndarray:
        if self._known_vectors is not None:
            return self._known_vectors[self._fs.user_index(user_id)]
        return self._model.embed_queries([self._model.known_user_query(user_id)])[0]

    @classmethod
    def load(cls, bundle_dir: str | Path) -> Recommender:
        """Load and verify a bundle (raises recsys.bundle.BundleError).

        A current bundle is served with numpy (`recsys.tower`), without torch.
        An older one loads the torch model; then torch is set to one intra-op
        thread for this process: serving runs one tiny query at a time, where a
        thread pool only adds wake-up latency (tens of ms on a busy machine,
        against ~0.5 ms single-threaded).
        """
        bundle = load_bundle(Path(bundle_dir))
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(1)
        return cls(bundle)

    # ------------------------------------------------------------------ metadata

    def model_card(self) -> dict:
        m = self.bundle.manifest
        total = sum(int(e.get("bytes", 0)) for e in m.get("files", {}).values())
        return {
            "dataset": m["dataset"]["name"],
            "dataset_format": m["dataset"].get("format"),
            "created_at": m.get("created_at"),
            "format_version": m.get("format_version"),
            "n_movies": int(len(self._movie_ids)),
            "n_users": int(self._fs.n_users),
            "n_ratings": m["dataset"].get("n_ratings"),
            "embedding_dim": int(self._emb.shape[1]),
            "temperature": self._temperature,
            "has_demographics": self.has_demographics,
            "genres": list(self.genres),
            "occupations": list(self.occupations),
            "user_id_range": list(self.user_id_range()),
            "evaluation": m.get("evaluation", {}),
            "model_config": m.get("model_config", {}),
            "train_config": m.get("train_config", {}),
            "index": m.get("index", {}),
            "bundle_bytes": total,
        }

    def user_id_range(self) -> tuple[int, int]:
        ids = self._fs.user_ids
        return (int(ids.min()), int(ids.max())) if len(ids) else (0, 0)

    def canonical_genres(self, genres: Sequence[str]) -> tuple[str, ...]:
        if isinstance(genres, str):
            genres = [genres]
        out: list[str] = []
        for raw in genres:
            canon = vocab.canonical_genre(str(raw))
            if canon is None or canon not in self._genre_col:
                close = vocab.closest_genres(str(raw))
                hint = f" Did you mean {_names(close)}?" if close else ""
                raise UnknownGenreError(
                    f"Unknown genre {raw!r}.{hint} Valid genres: {', '.join(self.genres)}."
                )
            if canon not in out:
                out.append(canon)
        return tuple(out)

    # ------------------------------------------------------------------ movies

    def _info(self, i: int) -> MovieInfo:
        mean = self._mean_rating[i]
        year = int(self._years[i])
        return MovieInfo(
            movie_id=int(self._movie_ids[i]),
            title=self._titles[i],
            year=None if year < 0 else year,
            genres=tuple(self._movie_genres[i]),
            n_ratings=int(self._n_ratings[i]),
            mean_rating=None if math.isnan(mean) else round(float(mean), 3),
        )

    def movie(self, movie_id: int) -> MovieInfo:
        if not _is_int(movie_id):
            raise InvalidArgumentError(f"movie_id must be an integer, got {movie_id!r}")
        i = self._fs.movie_index(int(movie_id))
        if i is None:
            raise MovieNotFoundError(
                f"No movie has id {movie_id} in this model's catalogue "
                f"({len(self._movie_ids)} movies, ids {self._movie_ids.min()}.."
                f"{self._movie_ids.max()}). Use search_movies to find a movie's id by title."
            )
        return self._info(i)

    def search(
        self, query: str, k: int = 10, filters: Filters = Filters()
    ) -> tuple[MovieInfo, ...]:
        self._check_k(k)
        if not isinstance(query, str) or not query.strip():
            raise InvalidArgumentError("query must be a non-empty title, e.g. 'The Matrix'")
        plan = self._plan(filters)
        hits = self._titles_index.search(query, k=k, allowed=plan.mask)
        return tuple(self._info(h.index) for h in hits)

    def resolve_movie(self, ref: int | str) -> MovieInfo:
        return self._info(self._resolve_index(ref))

    def _resolve_index(self, ref: int | str) -> int:
        if _is_int(ref):
            self.movie(int(ref))
            return int(self._fs.movie_index(int(ref)))
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidArgumentError(
                f"a movie must be given as an id (integer) or a title, got {ref!r}"
            )
        text = ref.strip()
        if re.fullmatch(r"\d+", text):
            by_id = self._fs.movie_index(int(text))
            by_title = self._titles_index.exact(text)
            if by_id is not None and len(by_title):
                cands = (self._info(by_id), *(self._info(int(i)) for i in by_title))
                raise AmbiguousMovieError(
                    f"{text!r} is both a movie id and a title: "
                    f"{'; '.join(_label(c) for c in cands)}. Pass the id as a number.",
                    cands,
                )
            if by_id is not None:
                return by_id
        res = self._titles_index.resolve(text)
        if res.status == "found":
            return int(res.index)
        cands = tuple(self._info(i) for i in res.candidates)
        if res.status == "ambiguous":
            raise AmbiguousMovieError(
                f"{text!r} matches several movies: {'; '.join(_label(c) for c in cands)}. "
                "Pass the movie id, or add the year (e.g. 'Heat 1995').",
                cands,
            )
        closest = self._titles_index.closest(text, n=5)
        near = "; ".join(_label(self._info(i)) for i in closest)
        hint = f" Closest titles: {near}." if near else ""
        raise MovieNotFoundError(
            f"No movie titled {text!r} in this model's catalogue.{hint} "
            "Use search_movies to look titles up, then pass the movie id."
        )

    # ------------------------------------------------------------------ validation

    def _check_k(self, k: int) -> None:
        if not _is_int(k) or not 1 <= int(k) <= MAX_K:
            raise InvalidArgumentError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")

    def _plan(self, filters: Filters) -> _FilterPlan:
        if not isinstance(filters, Filters):
            raise InvalidArgumentError("filters must be a recsys.recommender.Filters")
        for name in ("year_min", "year_max"):
            value = getattr(filters, name)
            if value is not None and not _is_int(value):
                raise InvalidArgumentError(f"{name} must be an integer year, got {value!r}")
        lo, hi = filters.year_min, filters.year_max
        if lo is not None and hi is not None and lo > hi:
            raise InvalidArgumentError(
                f"year_min ({lo}) is after year_max ({hi}); swap them or drop one"
            )
        parts: list[tuple[str, np.ndarray]] = []
        if filters.genres:
            cols = [self._genre_col[g] for g in self.canonical_genres(filters.genres)]
            names = [self.genres[c] for c in cols]
            parts.append((f"genres {' or '.join(names)}", self._genre_matrix[:, cols].any(1)))
        if filters.exclude_genres:
            cols = [self._genre_col[g] for g in self.canonical_genres(filters.exclude_genres)]
            names = [self.genres[c] for c in cols]
            parts.append((f"excluding {' and '.join(names)}", ~self._genre_matrix[:, cols].any(1)))
        if lo is not None or hi is not None:
            known = self._years >= 0
            ok = known.copy()
            if lo is not None:
                ok &= self._years >= lo
            if hi is not None:
                ok &= self._years <= hi
            if lo is not None and hi is not None:
                span = f"years {lo}-{hi}"
            else:
                span = f"year from {lo}" if lo is not None else f"year up to {hi}"
            parts.append((span, ok))
        if filters.exclude_movie_ids:
            drop = [self._fs.movie_index(int(m)) for m in filters.exclude_movie_ids]
            ok = np.ones(len(self._movie_ids), dtype=bool)
            ok[[i for i in drop if i is not None]] = False
            parts.append((f"{len(filters.exclude_movie_ids)} excluded movie ids", ok))
        if not parts:
            return _FilterPlan(None)
        mask = np.logical_and.reduce([m for _, m in parts])
        return _FilterPlan(mask, tuple(parts))

    # ------------------------------------------------------------------ ranking

    def _rank(
        self,
        vector: np.ndarray,
        k: int,
        plan: _FilterPlan,
        excluded: np.ndarray | None,
        excluded_why: str,
        exact_over: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, str | None]:
        """Top-k (indices, cosines) with filters and exclusions applied before the cut:
        from the index, or scored exactly over the rows of `exact_over` when given."""
        n = len(self._movie_ids)
        base = np.ones(n, dtype=bool) if excluded is None else ~excluded
        allowed = base if plan.mask is None else base & plan.mask
        restricted = plan.mask is not None or excluded is not None
        if exact_over is not None:
            idx, cos = exact_top_k(exact_over, vector, k, allowed if restricted else None)
        else:
            idx, cos = self._index.query(vector, k, allowed if restricted else None)
        note = None
        if len(idx) < k:
            note = self._shortfall_note(len(idx), k, plan, base, excluded_why)
        return idx, cos, note

    def _shortfall_note(
        self, got: int, k: int, plan: _FilterPlan, base: np.ndarray, excluded_why: str
    ) -> str:
        if not plan.parts:
            if base.all():
                return f"The catalogue holds only {got} movies."
            return f"Only {got} movies are left after excluding {excluded_why}."
        empty = [desc for desc, m in plan.parts if not (m & base).any()]
        all_desc = "; ".join(desc for desc, _ in plan.parts)
        if got == 0 and empty:
            return (
                f"No movie passes the filters: {'; '.join(empty)} matches no "
                "candidate movie. Remove or widen that filter."
            )
        if got == 0:
            return (
                f"No movie passes all filters together ({all_desc}); each matches some "
                "movies alone. Remove or widen one of them."
            )
        return (
            f"Only {got} of the {k} requested movies pass the filters ({all_desc}). "
            "Widen or remove a filter for more."
        )

    def _nearest(self, targets: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each target movie, the closest anchor movie (index into anchors) and its cosine."""
        sims = np.einsum(  # einsum: no BLAS threads
            "id,jd->ij", self._directions[targets], self._directions[anchors]
        )
        best = sims.argmax(axis=1)
        return best, sims[np.arange(len(targets)), best]

    def _items(
        self,
        idx: np.ndarray,
        cos: np.ndarray,
        reasons: Sequence[str],
        with_similarity: bool = False,
    ) -> tuple[Recommendation, ...]:
        out = []
        for rank, (i, c, why) in enumerate(zip(idx.tolist(), cos.tolist(), reasons, strict=True)):
            info = self._info(i)
            out.append(
                Recommendation(
                    rank=rank + 1,
                    movie_id=info.movie_id,
                    title=info.title,
                    year=info.year,
                    genres=info.genres,
                    score=round(c / self._temperature, 4),
                    reason=why,
                    similarity=round(c, 4) if with_similarity else None,
                )
            )
        return tuple(out)

    def _taste_reasons(
        self,
        idx: np.ndarray,
        liked: np.ndarray,
        genres: Sequence[str],
        liked_phrase: str,
        genre_phrase: str,
        fallback: str,
    ) -> list[str]:
        """Explain each pick by its nearest liked movie, else by the genres it matches."""
        near, near_cos = (None, None)
        if len(liked) and len(idx):
            near, near_cos = self._nearest(idx, liked)
        wanted = set(genres)
        reasons = []
        for r, i in enumerate(idx.tolist()):
            matched = [g for g in self._movie_genres[i] if g in wanted]
            if near is not None and (near_cos[r] >= REASON_MIN_COSINE or not matched):
                title = self._titles[int(liked[near[r]])]
                reason = liked_phrase.format(title=title)
                reasons.append(reason + (f"; also {_names(matched)}." if matched else "."))
            elif matched:
                reasons.append(genre_phrase.format(genres=_names(matched)) + ".")
            else:
                reasons.append(fallback)
        return reasons

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
        filters: Filters = Filters(),
        exclude_seen: bool = True,
    ) -> UserResult:
        self._check_k(k)
        if not _is_int(user_id):
            raise InvalidArgumentError(f"user_id must be an integer, got {user_id!r}")
        user_id = int(user_id)
        if self._fs.user_index(user_id) is None or user_id not in self._user_rows:
            lo, hi = self.user_id_range()
            raise UnknownUserError(
                f"User {user_id} is not in this model's training data. Known user ids lie in "
                f"{lo}..{hi} ({self._fs.n_users} users). For someone new, use recommendations "
                "from stated preferences (genres, liked movies) instead."
            )
        plan = self._plan(filters)
        profile = self._profile(user_id)
        items, ratings = self._model.user_history(user_id)
        vector = self._known_user_vector(user_id)
        excluded = None
        if exclude_seen and len(items):
            excluded = np.zeros(len(self._movie_ids), dtype=bool)
            excluded[items] = True
        idx, cos, note = self._rank(
            vector, k, plan, excluded, f"the {len(items)} movies this user has rated"
        )
        liked = items[ratings >= self._fs.like_threshold]
        if not len(liked) and len(items):
            liked = items[ratings >= ratings.max()]
        reasons = self._taste_reasons(
            idx,
            liked,
            profile.favourite_genres,
            liked_phrase="Because you liked {title}",
            genre_phrase="Matches your favourite genres: {genres}",
            fallback="Close to your overall taste in the model's embedding space.",
        )
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
        filters: Filters = Filters(),
    ) -> PreferenceResult:
        self._check_k(k)
        canon = self.canonical_genres(genres or ())
        plan = self._plan(filters)
        ignored: list[str] = []
        age_code = age_label = None
        if age is not None:
            if not _is_int(age) or not MIN_AGE <= int(age) <= MAX_AGE:
                raise InvalidArgumentError(
                    f"age must be a whole number of years from {MIN_AGE} to {MAX_AGE}, got {age!r}"
                )
            age_code = vocab.age_bucket(int(age))
            age_label = vocab.AGE_BUCKETS[age_code]
        sex = None
        if gender is not None and str(gender).strip():
            sex = _GENDERS.get(str(gender).strip().lower())
            if sex is None:
                ignored.append(
                    f"gender {gender!r}: the training data records only male/female, "
                    "so it is left out"
                )
        occ = None
        if occupation is not None and str(occupation).strip():
            if self.has_demographics:
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
            age_code = age_label = sex = occ = None
        if isinstance(liked_movies, str | int):
            liked_movies = [liked_movies]
        liked_idx: list[int] = []
        for ref in liked_movies:
            i = self._resolve_index(ref)
            if i not in liked_idx:
                liked_idx.append(i)
        liked_infos = tuple(self._info(i) for i in liked_idx)
        query = self._model.preference_query(
            canon,
            age=age_code,
            occupation=occ,
            gender=sex,
            liked_movie_ids=[info.movie_id for info in liked_infos],
        )
        vector = self._model.embed_queries([query])[0]
        liked = np.asarray(liked_idx, dtype=np.int64)
        excluded = None
        if len(liked):
            excluded = np.zeros(len(self._movie_ids), dtype=bool)
            excluded[liked] = True
        idx, cos, note = self._rank(vector, k, plan, excluded, "the movies you liked")
        demo_used = any(v is not None for v in (age_code, sex, occ))
        if demo_used:
            who = ", ".join(v for v in (age_label, {"M": "men", "F": "women"}.get(sex), occ) if v)
            fallback = f"Popular with viewers like you ({who})."
        else:
            fallback = "A broadly popular pick for the taste you described."
        reasons = self._taste_reasons(
            idx,
            liked,
            canon,
            liked_phrase="Close to {title}, which you liked",
            genre_phrase="Matches your genres: {genres}",
            fallback=fallback,
        )
        if not canon and not liked_infos and not demo_used and note is None:
            note = (
                "No usable preferences were given, so these are generally popular picks; "
                "add genres or liked movies for personal ones."
            )
        interpretation = Interpretation(
            genres=canon,
            age=int(age) if age_code is not None else None,
            age_bucket=age_label,
            occupation=occ,
            gender=sex,
            liked_movies=liked_infos,
            ignored=tuple(ignored),
        )
        return PreferenceResult(interpretation, demo_used, self._items(idx, cos, reasons), note)

    # ------------------------------------------------------------------ similar movies

    def similar_movies(
        self, movie: int | str, k: int = 10, filters: Filters = Filters()
    ) -> SimilarResult:
        self._check_k(k)
        plan = self._plan(filters)
        anchor = self._resolve_index(movie)
        info = self._info(anchor)
        excluded = np.zeros(len(self._movie_ids), dtype=bool)
        excluded[anchor] = True
        if self._similar is None:
            idx, cos, note = self._rank(self._emb[anchor], k, plan, excluded, "the movie itself")
        else:
            idx, cos, note = self._rank(
                self._similar[anchor], k, plan, excluded, "the movie itself", self._similar
            )
        anchor_genres = set(info.genres)
        reasons = []
        for i in idx.tolist():
            shared = [g for g in self._movie_genres[i] if g in anchor_genres]
            reason = f"Close to {info.title} in the model's embedding space"
            reasons.append(reason + (f"; both {_names(shared)}." if shared else "."))
        return SimilarResult(info, self._items(idx, cos, reasons, with_similarity=True), note)
