"""What the use cases return: frozen dataclasses the MCP layer publishes as they are."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MovieInfo:
    movie_id: int
    title: str  # as people write it, "The Matrix (1999)"
    dataset_title: str  # as the dataset spells it, "Matrix, The (1999)"
    year: int | None
    genres: tuple[str, ...]
    n_ratings: int
    mean_rating: float | None
    imdb_url: str | None = None
    tmdb_url: str | None = None


@dataclass(frozen=True)
class TitleMatch:
    movie: MovieInfo
    match: str  # how the title matched: "exact", "prefix", "words" or "fuzzy"


@dataclass(frozen=True)
class Recommendation:
    rank: int
    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    # The estimated chance the person likes the movie, in [0, 1], non-increasing down the
    # list (calibrated per model; recsys.ranking.calibration). Rounded once, here.
    score: float | None
    reason: str
    # Similar movies: the estimated chance a person who liked the anchor likes this one.
    similarity: float | None = None
    dataset_title: str = ""
    imdb_url: str | None = None
    tmdb_url: str | None = None


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
    genres: tuple[str, ...]  # every stated genre once
    age: int | None
    age_bucket: str | None
    occupation: str | None
    gender: str | None
    liked_movies: tuple[MovieInfo, ...]
    ignored: tuple[str, ...]
    # The stated genres as the filter reads them: ANY of the groups, a group needing all
    # its genres (("Romance", "Comedy") for "rom-com").
    genre_groups: tuple[tuple[str, ...], ...] = ()
    disliked_movies: tuple[MovieInfo, ...] = ()
    excluded_movies: tuple[MovieInfo, ...] = ()
    # Genres the list also admits because most liked movies carry none of the stated ones.
    admitted_genres: tuple[str, ...] = ()


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
