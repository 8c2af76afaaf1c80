"""What a trained model carries for ranking besides its towers: similar-movie neighbours, who
liked what, and the calibrations that turn scores into chances.

All three are computed by `recsys.training.fit` (the neighbours and likes by
`recsys.ranking`) and read by `recsys.ranking`'s rankers. They are saved
beside the model's other files: `neighbours.npz` and `likes.npz` (plain
arrays, no pickles), the calibration coefficients as typed frozen
dataclasses in `model.json`, read back as strictly as `ModelConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.model.stored import read_fields

NEIGHBOURS_FILE = "neighbours.npz"
LIKES_FILE = "likes.npz"


@dataclass(frozen=True)
class Neighbours:
    """Each movie's most similar movies by the similar-movies blend, best first."""

    index: np.ndarray  # int32 (n_movies, K): dense movie indices, -1 pads a short row
    similarity: np.ndarray  # float16 (n_movies, K): their blended similarity, -inf on pads

    @classmethod
    def empty(cls, n_movies: int) -> Neighbours:
        """No neighbours (K = 0): rankers then push nothing down for dislikes."""
        return cls(np.zeros((n_movies, 0), np.int32), np.zeros((n_movies, 0), np.float16))


@dataclass(frozen=True)
class Likes:
    """Who liked what in training (rating at the like threshold or above), for co-like lifts.

    Exact form: a CSR of movie -> liking users, so any pair's co-likers can be
    counted. Partner form, for catalogues too large to ship that: each movie's
    co-liked partners that pass the reason criterion, with their co-liker
    counts (`partners` is (n_movies, 0) in the exact form, `users` empty in
    the partner form).
    """

    n_users: int  # users with at least one training rating: lifts count over them
    likers: np.ndarray  # int32 (n_movies,): users who liked each movie
    indptr: np.ndarray  # int64 (n_movies + 1,): CSR rows over `users`
    users: np.ndarray  # int32: the liking users of each movie, ascending
    partners: np.ndarray  # int32 (n_movies, P): co-liked partners, best lift first, -1 pads
    partner_likes: np.ndarray  # int32 (n_movies, P): co-likers of the movie and each partner

    @property
    def exact(self) -> bool:
        return int(self.partners.shape[1]) == 0


@dataclass(frozen=True)
class ScoreCalibration:
    """P(a person likes a movie recommended from stated preferences):
    sigmoid(bias + score * s + n_liked * log1p(N) + rank * log1p(rank - 1) + head * [head]),
    s the ranker's score, N the liked movies given, [head] 1 for the most-liked movies."""

    bias: float
    score: float
    n_liked: float
    rank: float
    head: float


@dataclass(frozen=True)
class SimilarityCalibration:
    """P(a person who liked the anchor likes the neighbour), monotone in the blend s for every
    anchor: sigmoid(bias + support * L + inverse_root / sqrt(1 + n) + exp(slope_bias +
    slope_support * L) * s), n the anchor's training ratings and L = log(1 + n)."""

    bias: float
    support: float
    inverse_root: float
    slope_bias: float
    slope_support: float


@dataclass(frozen=True)
class KnownUserCalibration:
    """P(a known user likes a recommended movie): sigmoid(bias + z * z(score) + rank *
    log1p(rank - 1) + history * log1p(ratings)), z(score) the score standardised over the
    catalogue for that user, ratings the user's training ratings."""

    bias: float
    z: float
    rank: float
    history: float


@dataclass(frozen=True)
class Calibrations:
    preferences: ScoreCalibration
    similarity: SimilarityCalibration
    known_users: KnownUserCalibration
    fitted_on: str  # "validation" (this training's validation users) or "fallback"

    @classmethod
    def from_stored(cls, stored: object) -> Calibrations:
        """The calibrations saved in `model.json`; ValueError says what does not fit."""
        if not isinstance(stored, dict) or set(stored) != {
            "preferences",
            "similarity",
            "known_users",
            "fitted_on",
        }:
            raise ValueError(
                "calibration must hold preferences, similarity, known_users and fitted_on; "
                "the model was written by another version"
            )
        fitted_on = stored["fitted_on"]
        if fitted_on not in ("validation", "fallback"):
            raise ValueError(
                f"calibration.fitted_on must be validation or fallback, got {fitted_on!r}"
            )
        return cls(
            preferences=read_fields(
                ScoreCalibration, stored["preferences"], "calibration.preferences"
            ),
            similarity=read_fields(
                SimilarityCalibration, stored["similarity"], "calibration.similarity"
            ),
            known_users=read_fields(
                KnownUserCalibration, stored["known_users"], "calibration.known_users"
            ),
            fitted_on=fitted_on,
        )


@dataclass(frozen=True)
class RankingArtifacts:
    neighbours: Neighbours
    likes: Likes
    calibrations: Calibrations


def save_artifacts(artifacts: RankingArtifacts, directory: Path) -> list[str]:
    """Write the neighbour and like arrays (the calibrations go into `model.json`)."""
    n, likes = artifacts.neighbours, artifacts.likes
    directory = Path(directory)
    np.savez_compressed(
        directory / NEIGHBOURS_FILE,
        allow_pickle=False,
        index=n.index.astype(np.int32),
        similarity=n.similarity.astype(np.float16),
    )
    np.savez_compressed(
        directory / LIKES_FILE,
        allow_pickle=False,
        n_users=np.int64(likes.n_users),
        likers=likes.likers.astype(np.int32),
        indptr=likes.indptr.astype(np.int64),
        users=likes.users.astype(np.int32),
        partners=likes.partners.astype(np.int32),
        partner_likes=likes.partner_likes.astype(np.int32),
    )
    return [NEIGHBOURS_FILE, LIKES_FILE]


def read_artifacts(directory: Path, stored_calibration: object, n_movies: int) -> RankingArtifacts:
    """The artifacts saved in `directory` for a catalogue of `n_movies`; ValueError says what
    is missing or does not fit."""
    directory = Path(directory)
    calibrations = Calibrations.from_stored(stored_calibration)
    with np.load(directory / NEIGHBOURS_FILE, allow_pickle=False) as z:
        neighbours = Neighbours(index=z["index"], similarity=z["similarity"])
    with np.load(directory / LIKES_FILE, allow_pickle=False) as z:
        likes = Likes(
            n_users=int(z["n_users"]),
            likers=z["likers"],
            indptr=z["indptr"],
            users=z["users"],
            partners=z["partners"],
            partner_likes=z["partner_likes"],
        )
    check_neighbours(neighbours, n_movies)
    check_likes(likes, n_movies)
    return RankingArtifacts(neighbours, likes, calibrations)


def check_neighbours(n: Neighbours, n_movies: int) -> None:
    idx, sim = n.index, n.similarity
    if idx.ndim != 2 or idx.shape[0] != n_movies or sim.shape != idx.shape:
        raise ValueError(
            f"{NEIGHBOURS_FILE} holds index {idx.shape} and similarity {sim.shape}; "
            f"expected ({n_movies}, K) each"
        )
    if idx.dtype != np.int32 or sim.dtype != np.float16:
        raise ValueError(f"{NEIGHBOURS_FILE} holds {idx.dtype}/{sim.dtype}, not int32/float16")
    if idx.size and (idx.min() < -1 or idx.max() >= n_movies):
        raise ValueError(f"{NEIGHBOURS_FILE} names movies outside the catalogue")
    if (idx == np.arange(n_movies)[:, None]).any():
        raise ValueError(f"{NEIGHBOURS_FILE} lists a movie as its own neighbour")
    if np.isnan(sim).any() or np.isinf(sim[idx >= 0]).any():
        raise ValueError(f"{NEIGHBOURS_FILE} holds a missing or infinite similarity")


def check_likes(likes: Likes, n_movies: int) -> None:
    if likes.n_users < 0 or likes.likers.shape != (n_movies,):
        raise ValueError(f"{LIKES_FILE} does not describe {n_movies} movies")
    if likes.likers.size and (likes.likers.min() < 0 or likes.likers.max() > likes.n_users):
        raise ValueError(f"{LIKES_FILE} counts more likers than users")
    ptr, users = likes.indptr, likes.users
    if ptr.shape != (n_movies + 1,) or ptr[0] != 0 or ptr[-1] != len(users):
        raise ValueError(f"{LIKES_FILE}'s movie rows do not cover its users")
    if (np.diff(ptr) < 0).any():
        raise ValueError(f"{LIKES_FILE}'s movie rows are out of order")
    if users.size and (users.min() < 0 or users.max() >= max(likes.n_users, 1)):
        raise ValueError(f"{LIKES_FILE} names users outside the training users")
    if likes.exact and not np.array_equal(np.diff(ptr), likes.likers):
        raise ValueError(f"{LIKES_FILE}'s rows disagree with its liker counts")
    p, c = likes.partners, likes.partner_likes
    if p.ndim != 2 or p.shape[0] != n_movies or c.shape != p.shape:
        raise ValueError(f"{LIKES_FILE}'s partner table is not ({n_movies}, P)")
    if p.size and (p.min() < -1 or p.max() >= n_movies or (c < 0).any()):
        raise ValueError(f"{LIKES_FILE}'s partner table names movies outside the catalogue")
