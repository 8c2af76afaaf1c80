"""Validation of what a caller asks to store: every bad item is found before anything is written."""

from __future__ import annotations

import math
from collections.abc import Sequence

from recsys.profiles.errors import ProfileError, batch_error
from recsys.profiles.records import Movie, Rating

MAX_BATCH = 500  # items (ratings + seen, or watchlist movies) in one call
MAX_TITLE = 1000
MAX_DATASET = 256
YEAR_RANGE = (1800, 2999)
MAX_ID = 2**63 - 1  # both databases store ids as signed 64-bit integers
RATING_RULE = "use 0.5 to 5.0 stars in steps of 0.5"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def text_problem(value: object, what: str, limit: int) -> str | None:
    """Why `value` cannot be stored as text, or None: PostgreSQL refuses NUL, UTF-8 refuses lone
    surrogates, and neither is ever part of a real title."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if not value.strip():
        return f"{what} is empty"
    if len(value) > limit:
        return f"{what} is {len(value)} characters long; at most {limit}"
    if "\x00" in value:
        return f"{what} contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} is not valid Unicode (a lone surrogate)"
    return None


def movie_problems(movie: object) -> list[str]:
    """Every reason `movie` cannot be stored (empty when it can)."""
    if not isinstance(movie, Movie):
        return [f"expected a Movie, got {type(movie).__name__}"]
    problems = []
    if not _is_int(movie.id) or not 0 <= movie.id <= MAX_ID:
        problems.append(f"movie id {movie.id!r} must be a whole number, 0 or more")
    title = text_problem(movie.title, "title", MAX_TITLE)
    if title:
        problems.append(title)
    if movie.year is not None and (
        not _is_int(movie.year) or not YEAR_RANGE[0] <= movie.year <= YEAR_RANGE[1]
    ):
        problems.append(
            f"year {movie.year!r} must be a whole number from {YEAR_RANGE[0]} to "
            f"{YEAR_RANGE[1]}, or None when unknown"
        )
    return problems


def rating_problem(value: object) -> str | None:
    """Why `value` is not a rating, or None when it is."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"rating {value!r} is not a number; {RATING_RULE}"
    if not math.isfinite(value) or not 0.5 <= value <= 5.0 or not float(value * 2).is_integer():
        return f"rating {value!r} is off the scale; {RATING_RULE}"
    return None


def describe(movie: object) -> str:
    """A movie as a message names it: id, title and year as far as they are readable."""
    if not isinstance(movie, Movie):
        return ""
    year = f" ({movie.year})" if movie.year is not None else ""
    return f" (movie {movie.id!r} {movie.title!r}{year})"


def check_size(count: int, what: str) -> None:
    """Refuse a call of more than MAX_BATCH items before looking at any of them."""
    if count > MAX_BATCH:
        raise ProfileError(
            f"{count:,} {what} in one call; at most {MAX_BATCH} per call: "
            f"split them into calls of {MAX_BATCH} or fewer"
        )


def duplicate_problems(
    labels: Sequence[str],
    movies: Sequence[object],
    problems: list[str],
    hint: str = "give each movie once per call (a rated movie counts as seen)",
) -> None:
    """Report each movie that appears a second time, naming where it first appeared."""
    first: dict[int, str] = {}
    for label, movie in zip(labels, movies, strict=True):
        if not isinstance(movie, Movie) or not _is_int(movie.id):
            continue
        if movie.id in first:
            problems.append(
                f"{label}{describe(movie)}: movie {movie.id} is also {first[movie.id]}; {hint}"
            )
        else:
            first[movie.id] = label


def check_rate(
    ratings: Sequence[Rating], seen: Sequence[Movie]
) -> tuple[tuple[Rating, ...], tuple[Movie, ...]]:
    """The batch with ratings as floats, or one ProfileError listing every bad item."""
    check_size(len(ratings) + len(seen), "ratings and seen movies")
    if not ratings and not seen:
        raise ProfileError("nothing to store: give at least one rating or seen movie")
    problems: list[str] = []
    for i, item in enumerate(ratings):
        if not isinstance(item, Rating):
            problems.append(f"ratings[{i}]: expected a Rating, got {type(item).__name__}")
            continue
        bad = movie_problems(item.movie)
        rating = rating_problem(item.rating)
        problems.extend(f"ratings[{i}]{describe(item.movie)}: {p}" for p in bad)
        if rating:
            problems.append(f"ratings[{i}]{describe(item.movie)}: {rating}")
    for i, movie in enumerate(seen):
        problems.extend(f"seen[{i}]{describe(movie)}: {p}" for p in movie_problems(movie))
    rated = [item.movie if isinstance(item, Rating) else None for item in ratings]
    labels = [f"ratings[{i}]" for i in range(len(ratings))] + [
        f"seen[{i}]" for i in range(len(seen))
    ]
    duplicate_problems(labels, [*rated, *seen], problems)
    if problems:
        raise batch_error(problems)
    return tuple(Rating(r.movie, float(r.rating)) for r in ratings), tuple(seen)


def check_movies(movies: Sequence[Movie], what: str) -> tuple[Movie, ...]:
    """A list of movies (e.g. for the watchlist), or one ProfileError listing every bad item."""
    check_size(len(movies), what)
    if not movies:
        raise ProfileError(f"no {what} given: give at least one")
    problems: list[str] = []
    for i, movie in enumerate(movies):
        problems.extend(f"{what}[{i}]{describe(movie)}: {p}" for p in movie_problems(movie))
    duplicate_problems([f"{what}[{i}]" for i in range(len(movies))], movies, problems)
    if problems:
        raise batch_error(problems)
    return tuple(movies)


def check_ids(ids: Sequence[int], what: str) -> tuple[int, ...]:
    """Movie ids to remove or forget, or one ProfileError listing every one that is not an id."""
    check_size(len(ids), what)
    problems = [
        f"{what}[{i}]: {value!r} is not a movie id (a whole number, 0 or more)"
        for i, value in enumerate(ids)
        if not _is_int(value) or not 0 <= value <= MAX_ID
    ]
    if problems:
        raise batch_error(problems, action="changed")
    return tuple(dict.fromkeys(ids))


def check_dataset(value: object) -> str:
    """The dataset fingerprint a profile is made against: a short non-empty string."""
    problem = text_problem(value, "dataset fingerprint", MAX_DATASET)
    if problem or not isinstance(value, str):
        raise ProfileError(f"{problem}; pass the bundle's dataset fingerprint")
    return value
