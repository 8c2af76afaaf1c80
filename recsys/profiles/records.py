"""What the store takes and gives back: frozen records, no behaviour beyond counting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Movie:
    """A movie as the profile remembers it: id in its dataset, plus title and year to remap it."""

    id: int
    title: str
    year: int | None = None


@dataclass(frozen=True)
class Rating:
    """One rating to store: 0.5 to 5.0 stars in half steps."""

    movie: Movie
    rating: float


@dataclass(frozen=True)
class Entry:
    """A stored rating, seen movie (rating None) or watchlist item, with when it was stored.

    `seq` grows by one with every entry the profile stores: it orders entries even when
    two share a timestamp or the clock steps back, and is what recency is computed from.
    """

    movie: Movie
    rating: float | None
    stored_at: datetime
    seq: int


@dataclass(frozen=True)
class Counts:
    ratings: int
    seen: int
    watchlist: int


@dataclass(frozen=True)
class Profile:
    """A whole profile; ratings, seen and watchlist each in the order they were stored."""

    namespace: str
    name: str
    dataset: str
    created_at: datetime
    ratings: tuple[Entry, ...]
    seen: tuple[Entry, ...]
    watchlist: tuple[Entry, ...]

    @property
    def counts(self) -> Counts:
        return Counts(len(self.ratings), len(self.seen), len(self.watchlist))


@dataclass(frozen=True)
class History:
    """What recommending reads of a profile: ids and stars, without titles or stamps.

    `ratings` are (movie id, stars), oldest first by sequence number; `seen` the ids of
    movies seen without a rating, in the order stored.
    """

    dataset: str
    ratings: tuple[tuple[int, float], ...]
    seen: tuple[int, ...]


@dataclass(frozen=True)
class ProfileSummary:
    """A profile as listed: no entries, only how many of each."""

    name: str
    dataset: str
    created_at: datetime
    counts: Counts


@dataclass(frozen=True)
class Stored:
    """What a rate call stored.

    `ratings`: every rating of the call as now stored (a re-rated movie has a new stamp);
    `seen`: the seen movies newly recorded; `unchanged`: seen movies the profile already
    held, rated or seen, which were left as they were.
    """

    ratings: tuple[Entry, ...]
    seen: tuple[Entry, ...]
    unchanged: tuple[Movie, ...]


@dataclass(frozen=True)
class WatchlistChange:
    """`added`: movies newly on the watchlist; `unchanged`: those that were already there."""

    added: tuple[Entry, ...]
    unchanged: tuple[Movie, ...]


@dataclass(frozen=True)
class Forgotten:
    """What a forget call deleted.

    `profile` is True when the whole profile went. `erased` is True when the deleted bytes
    are known to be gone from the database files too (SQLite: secure_delete plus a full WAL
    checkpoint); PostgreSQL leaves dead rows for VACUUM to reclaim, so it is False there.
    """

    profile: bool
    ratings: tuple[Entry, ...]
    seen: tuple[Entry, ...]
    watchlist: tuple[Entry, ...]
    erased: bool
