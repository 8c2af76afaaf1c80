"""The profile tools' argument types and result models (the MCP boundary of issue #14).

Result models mirror the store's records (`recsys.profiles.records`) and the
library's group result (`recsys.serving.people`) field by field, and are
validated straight from them, as `server.schemas` does for the other tools.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from recsys.profiles import MAX_BATCH
from recsys.profiles.names import RULE, name_problem
from server.schemas import MAX_TEXT, GenreList, Item, _Out

MAX_GROUP = 8  # people watching together
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
LIKED_STARS, DISLIKED_STARS = 4.0, 2.0  # what "liked" and "disliked" are stored as


def _profile_name(value: object) -> object:
    # Before pydantic's own pattern check, so the message states the rule in words.
    problem = name_problem(value)
    if problem is not None and isinstance(value, str):
        raise ValueError(problem)
    return value


def _json_text(value: object) -> object:
    """Accept a JSON text where a list or object belongs (some clients send them as strings)."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


ProfileName = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=NAME_PATTERN),
    BeforeValidator(_profile_name),
]
ProfileArg = Annotated[
    ProfileName,
    Field(
        description=f"The person's profile name ({RULE}), e.g. 'alice'. Rating a movie creates "
        "the profile. Over HTTP each token sees only its own profiles."
    ),
]
OptionalProfileArg = Annotated[
    ProfileName | None,
    Field(
        description=f"Recommend for this stored profile instead of a user_id ({RULE}): its "
        "ratings are read as a known user's history; its rated and seen movies are left out."
    ),
]

# Items of a call are typed in the schema but checked in the tool, so that one error lists
# every bad item (with its index and what is wrong), unknown titles included.
MOVIE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
    ],
    "description": "The movie's id, or its title ('Heat 1995', 'The Matrix').",
}
AnyMovie = Annotated[Any, WithJsonSchema(MOVIE_SCHEMA)]
STARS_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0.5, "maximum": 5, "multipleOf": 0.5},
        {"type": "string", "enum": ["liked", "disliked"]},
    ],
    "description": f"Stars from 0.5 to 5 in steps of 0.5, or 'liked' (stored as "
    f"{LIKED_STARS:g}) / 'disliked' ({DISLIKED_STARS:g}).",
}


class RatingIn(BaseModel):
    """One rating to store; its values are checked in the tool (see MOVIE_SCHEMA)."""

    model_config = ConfigDict(extra="forbid")
    movie: AnyMovie
    rating: Annotated[Any, WithJsonSchema(STARS_SCHEMA)]


RatingsArg = Annotated[
    Annotated[list[RatingIn], Field(max_length=MAX_BATCH), BeforeValidator(_json_text)] | None,
    Field(
        description=f"Ratings to store: [{{'movie': id or title, 'rating': 0.5-5 or 'liked' "
        f"or 'disliked'}}, ...]. At most {MAX_BATCH} items per call, ratings and seen together; "
        "a movie rated before gets the new rating."
    ),
]
MovieRefs = Annotated[list[AnyMovie], Field(max_length=MAX_BATCH), BeforeValidator(_json_text)]
SeenArg = Annotated[
    MovieRefs | None,
    Field(
        description="Movies the person has seen, without a rating (ids or titles): never "
        "recommended to them, not read as a taste."
    ),
]
WatchlistMoviesArg = Annotated[
    MovieRefs,
    Field(min_length=1, description=f"Movies (ids or titles), at most {MAX_BATCH}."),
]
ForgetMoviesArg = Annotated[
    MovieRefs | None,
    Field(
        description="Movies of the profile to delete from every list (ids as get_profile shows "
        "them, or titles). Leave it out to delete the whole profile."
    ),
]
GroupArg = Annotated[
    Annotated[list[ProfileName], BeforeValidator(_json_text)],
    Field(
        min_length=2,
        max_length=MAX_GROUP,
        description=f"The profile names of everyone watching (2-{MAX_GROUP}).",
    ),
]
DocumentArg = Annotated[
    Annotated[dict[str, Any], BeforeValidator(_json_text)],
    Field(
        description="A profile document as export_profile gave it (format 'movierec-profile', "
        "version 1), as an object or as JSON text."
    ),
]
ImportNameArg = Annotated[
    ProfileName | None,
    Field(description="Store it under this name (default: the name in the document)."),
]
ReplaceArg = Annotated[
    bool,
    Field(description="Replace a profile of that name; its current entries are deleted."),
]
LikedGenresArg = Annotated[
    GenreList | None,
    Field(
        description="With profile only: genres the person says they like, for a profile with "
        "few ratings yet (added to those their ratings show)."
    ),
]


# --------------------------------------------------------------------------- results


class StoredMovie(_Out):
    id: int = Field(description="The movie's id in the dataset the profile was made with.")
    title: str = Field(description="As that dataset spells it; with the year, it maps the entry.")
    year: int | None


class StoredEntry(_Out):
    movie: StoredMovie
    rating: float | None = Field(
        description="Stars; null for a movie seen without a rating, and on the watchlist."
    )
    stored_at: datetime = Field(description="When it was stored (UTC).")
    seq: int = Field(description="The order the profile stored it in (recency counts by it).")


class Counts(_Out):
    ratings: int
    seen: int
    watchlist: int


class Unmapped(_Out):
    movie: StoredMovie
    list: str = Field(description="ratings, seen or watchlist.")
    why: str


class RateResult(_Out):
    profile: str
    ratings: list[StoredEntry] = Field(description="Every rating of the call, as stored.")
    seen: list[StoredEntry] = Field(description="Seen movies newly recorded.")
    unchanged: list[StoredMovie] = Field(
        description="Seen movies the profile already held (rated or seen), left as they were."
    )
    counts: Counts = Field(description="The profile's totals after this call.")
    note: str | None


class ProfileView(_Out):
    profile: str
    created_at: datetime
    dataset_matches: bool = Field(
        description="False when the profile was made with another dataset: its entries are "
        "read here by title and year, and it cannot be added to until moved (import_profile)."
    )
    counts: Counts
    favourite_genres: list[str] = Field(description="Derived from the ratings this server reads.")
    ratings: list[StoredEntry] = Field(description="Oldest first (the most recent at most 100).")
    seen: list[StoredEntry]
    watchlist: list[StoredEntry]
    unmapped: list[Unmapped] = Field(description="Entries no movie of this server matches.")
    note: str | None


class ProfileSummary(_Out):
    name: str
    created_at: datetime
    dataset_matches: bool
    counts: Counts


class ProfileList(_Out):
    profiles: list[ProfileSummary]
    note: str | None


class WatchlistResult(_Out):
    profile: str
    added: list[StoredEntry]
    unchanged: list[StoredMovie] = Field(description="Already on the watchlist.")
    removed: list[StoredEntry]
    not_found: list[str] = Field(description="Given movies the watchlist does not hold.")
    counts: Counts
    note: str | None


class ForgetResult(_Out):
    profile: str
    whole_profile: bool = Field(description="True when the whole profile was deleted.")
    ratings: list[StoredEntry] = Field(description="Deleted ratings.")
    seen: list[StoredEntry] = Field(description="Deleted seen movies.")
    watchlist: list[StoredEntry] = Field(description="Deleted watchlist entries.")
    not_found: list[str] = Field(description="Given movies the profile does not hold.")
    erased: bool = Field(
        description="True when the deleted bytes are gone from the database files too "
        "(SQLite); False on PostgreSQL, where dead rows remain until VACUUM reclaims them."
    )
    note: str


class ExportResult(_Out):
    profile: str
    document: dict[str, Any] | None = Field(
        description="The profile document (keep it; import_profile reads it back); null when "
        "it is too large for one answer: read resource movierec://profile/{name} instead."
    )
    counts: Counts
    note: str | None


class ImportResult(_Out):
    profile: str
    replaced: bool
    mapped: bool = Field(
        description="True when the document came from another dataset and its entries were "
        "mapped onto this one by title and year."
    )
    counts: Counts
    unmapped: list[Unmapped] = Field(description="Entries left out: no movie here matches.")
    note: str | None


class MemberFit(_Out):
    profile: str
    percentile: float = Field(description="How this movie ranks in the member's own taste, 0-100.")
    standard_score: float = Field(
        description="Standard deviations above the member's average score over the catalogue."
    )
    chance: float = Field(description="Estimated chance (0-1) that this member likes it.")


class GroupItem(Item):
    score: float = Field(
        description="Estimated chance (0-1) that the least keen member likes this movie, "
        "calibrated on held-out people (see method for how the list is ordered)."
    )
    group_score: float = Field(
        description="What the list is ranked by: the lowest member's standard score; "
        "non-increasing down the list."
    )
    members: list[MemberFit]


class GroupMember(_Out):
    profile: str
    n_ratings: int
    n_seen: int
    favourite_genres: list[str]
    list_fit: float = Field(description="The member's mean percentile over the list.")
    unmapped: int = Field(default=0, description="Entries this server could not read.")


class GroupRecommendations(_Out):
    members: list[GroupMember]
    items: list[GroupItem]
    method: str = Field(description="How the list is made fair to every member.")
    note: str | None
