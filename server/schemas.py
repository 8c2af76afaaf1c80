"""The MCP boundary's types: argument types for the tools and the result models they return.

Argument types carry the limits every tool enforces (k in 1..100, strings of
1-200 characters, lists of at most 20 items, ages 1..120) and the descriptions
an LLM reads in each tool's inputSchema. Result models are what each tool
publishes as its outputSchema and returns as structuredContent; they are
validated straight from the library's frozen result dataclasses
(`Model.model_validate(result)`), whose fields they mirror by name.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from recsys.serving.inputs import MAX_AGE, MAX_K, MIN_AGE

MAX_TEXT = 200
MAX_LIST = 20
YEAR_MIN, YEAR_MAX = 1870, 2100


def _no_bool(value: object) -> object:
    # pydantic's lax mode reads true as 1; a boolean where a number belongs is a mistake.
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


def _json_list(text: str) -> object:
    if text.startswith("["):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return None
    return None


def _as_name_list(value: object) -> object:
    """Accept what LLM clients send for a list of names: a list, a JSON array, or "a, b"."""
    if isinstance(value, str):
        text = value.strip()
        parsed = _json_list(text)
        if parsed is not None:
            return parsed
        return [part.strip() for part in text.split(",") if part.strip()] or [text]
    return value


def _as_ref_list(value: object) -> object:
    """Like `_as_name_list`, but a bare string is one title: titles contain commas."""
    if isinstance(value, str):
        parsed = _json_list(value.strip())
        return parsed if parsed is not None else [value]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
# Constraints come before the BeforeValidators so they land in the JSON schema as
# minimum/maximum/maxItems (the validators still run first).
Count = Annotated[
    int,
    Field(ge=1, le=MAX_K, description=f"How many results to return (1-{MAX_K})."),
    BeforeValidator(_no_bool),
]
Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX), BeforeValidator(_no_bool)]
GenreList = Annotated[list[Text], Field(max_length=MAX_LIST), BeforeValidator(_as_name_list)]
MovieRef = Annotated[int, BeforeValidator(_no_bool)] | Text

UserIdArg = Annotated[
    int,
    BeforeValidator(_no_bool),
    Field(description="A user id from the training data (see the model card for the range)."),
]
OptionalUserIdArg = Annotated[
    Annotated[int, BeforeValidator(_no_bool)] | None,
    Field(
        description="A user id from the training data (range in the model card); or give "
        "profile instead."
    ),
]
GenresFilterArg = Annotated[
    GenreList | None,
    Field(
        description="Keep only movies with ANY of these genres (case-insensitive; aliases such as "
        "'sci fi' or 'kids' work; the list is in resource movierec://genres)."
    ),
]
ExcludeGenresArg = Annotated[
    GenreList | None, Field(description="Drop every movie that has ANY of these genres.")
]
YearMinArg = Annotated[
    Year | None, Field(description="Keep movies released in or after this year.")
]
YearMaxArg = Annotated[
    Year | None, Field(description="Keep movies released in or before this year.")
]
StatedGenresArg = Annotated[
    GenreList,
    Field(
        min_length=1,
        description="Genres the person likes, e.g. ['comedy', 'sci-fi'] (case-insensitive, aliases "
        "accepted; valid names in resource movierec://genres). They are also the list's filter: "
        "every movie has ANY of them ('rom-com' needs both Romance and Comedy), unless most "
        "liked movies carry none of them (then their genres fill at most half the list, and "
        "the note says so).",
    ),
]
AgeArg = Annotated[
    Annotated[int, Field(ge=MIN_AGE, le=MAX_AGE), BeforeValidator(_no_bool)] | None,
    Field(description="The person's age in years (1-120)."),
]
OccupationArg = Annotated[
    Text | None,
    Field(
        description="The person's occupation in free text ('software engineer', 'nurse'); "
        "mapped to "
        "the closest entry of resource movierec://occupations."
    ),
]
GenderArg = Annotated[
    Text | None, Field(description="The person's gender: 'M'/'male' or 'F'/'female'.")
]
MovieRefs = Annotated[list[MovieRef], Field(max_length=MAX_LIST), BeforeValidator(_as_ref_list)]
LikedMoviesArg = Annotated[
    MovieRefs | None,
    Field(
        description="Movies the person liked: ids or titles ('The Matrix', 'Heat 1995'); up to 20."
    ),
]
DislikedMoviesArg = Annotated[
    MovieRefs | None,
    Field(
        description="Movies the person disliked (ids or titles, up to 20): never listed, and "
        "movies most like them are pushed down."
    ),
]
ExcludeMoviesArg = Annotated[
    MovieRefs | None,
    Field(
        description="Movies to leave out, e.g. already seen (ids or titles, up to 20); no "
        "opinion is read from them."
    ),
]
AnchorArg = Annotated[
    MovieRef,
    Field(
        description="The movie to start from: its id, or its title ('The Matrix', 'Heat (1995)'). "
        "An ambiguous title gets an error listing the candidates with their ids."
    ),
]
QueryArg = Annotated[
    Text, Field(description="Words from the title, e.g. 'star wars' or 'godfather 1972'.")
]
ExcludeSeenArg = Annotated[
    bool, Field(description="Leave out movies this user has already rated (default true).")
]
MovieIdArg = Annotated[
    int, BeforeValidator(_no_bool), Field(description="The movie's id (from any other tool).")
]


class _Out(BaseModel):
    # Built straight from the library's result dataclasses (recsys.serving.results),
    # field by field by name: no converter to keep in step.
    model_config = ConfigDict(frozen=True, from_attributes=True)


class _MovieFacts(_Out):
    movie_id: int
    title: str = Field(description="As people write it, e.g. 'The Matrix (1999)'.")
    dataset_title: str = Field(description="As the dataset spells it: 'Matrix, The (1999)'.")
    year: int | None
    genres: list[str]
    imdb_url: str | None = Field(default=None, description="IMDb page, where the data has it.")
    tmdb_url: str | None = Field(default=None, description="TMDB page, where the data has it.")


class Movie(_MovieFacts):
    n_ratings: int = Field(description="Ratings this movie has in the training data.")
    mean_rating: float | None = Field(description="Mean rating in the training data; null if none.")


# One meaning for each number, in every tool: `score` is a chance that the person likes the
# movie and `similarity` a chance that someone who liked the anchor does, both calibrated on
# held-out people, so they compare across calls.
SCORE = (
    "Estimated chance (0-1) that the person likes this movie (that it is among the movies they "
    "go on to like), calibrated on held-out people: comparable across calls and tools; it "
    "never rises down the list."
)


class Item(_MovieFacts):
    rank: int = Field(description="1 for the best match.")
    score: float = Field(description=SCORE)
    reason: str = Field(description="One short sentence on why this movie is here.")


class SimilarItem(_MovieFacts):
    rank: int = Field(description="1 for the most similar.")
    similarity: float = Field(
        description="Estimated chance (0-1) that a person who liked the anchor movie likes this "
        "one, calibrated on held-out people (low for a little-rated anchor: less is known)."
    )
    reason: str = Field(description="One short sentence on why this movie is here.")


class SearchItem(_MovieFacts):
    rank: int = Field(description="1 for the best title match.")
    match: str = Field(description="How the title matched: exact, prefix, words or fuzzy.")
    n_ratings: int = Field(description="Ratings this movie has in the training data.")


class User(_Out):
    user_id: int
    gender: str | None
    age: str | None = Field(description="Age bracket, e.g. '25-34'; null when unknown.")
    occupation: str | None
    n_ratings: int
    favourite_genres: list[str]


class Interpreted(_Out):
    genres: list[str] = Field(description="Canonical genres used.")
    genre_groups: list[list[str]] = Field(
        description="The stated genres as the filter reads them: a movie needs ANY of the "
        "groups, and all the genres of a group ('rom-com' is [Romance, Comedy])."
    )
    admitted_genres: list[str] = Field(
        description="Genres also admitted because most liked movies carry none of the stated "
        "ones (then at most half the list comes from them; the note says so)."
    )
    age: int | None
    age_bucket: str | None
    occupation: str | None = Field(description="The occupation vocabulary entry used.")
    gender: str | None
    liked_movies: list[Movie]
    disliked_movies: list[Movie]
    excluded_movies: list[Movie]
    ignored: list[str] = Field(description="Each input that was not used, and why.")


class ProfileUsed(_Out):
    """A person's stored profile as one recommendation read it (recommend_for_user(profile=))."""

    name: str
    n_ratings: int = Field(description="Ratings read, oldest first, as a known user's history.")
    n_seen: int = Field(description="Movies seen without a rating: left out, not read.")
    favourite_genres: list[str] = Field(description="Derived from the ratings.")
    stated_genres: list[str] = Field(description="liked_genres given with this call.")
    age_bucket: str | None
    gender: str | None
    occupation: str | None
    ignored: list[str] = Field(description="Each input that was not used, and why.")
    unmapped: int = Field(
        default=0,
        description="Entries this server could not read: the profile was made with another "
        "dataset and no movie here has their title and year (get_profile lists them).",
    )


class UserRecommendations(_Out):
    user: User | None = Field(default=None, description="The dataset user, asked by user_id.")
    profile: ProfileUsed | None = Field(
        default=None, description="The person's profile, asked by profile."
    )
    items: list[Item]
    note: str | None = Field(description="Set when filters left fewer than k movies.")


class PreferenceRecommendations(_Out):
    interpreted: Interpreted
    demographics_used: bool = Field(description="False when this model has no demographics.")
    items: list[Item]
    note: str | None


class SimilarMovies(_Out):
    movie: Movie = Field(description="The anchor movie the title or id resolved to.")
    items: list[SimilarItem]
    note: str | None


class SearchResults(_Out):
    query: str
    items: list[SearchItem] = Field(
        description="Best title match first (exact, prefix, every word, spelling; then the "
        "more rated movie)."
    )
    note: str | None
