"""Personal profiles: what a person rated, saw and wants to watch, kept across conversations.

A storage layer only: it imports nothing else from `recsys`, knows nothing of titles or
models, and keeps each movie's id, title and year so a profile can be read against another
dataset later. Open one with `open_store(path_or_url)`; see `store.ProfileStore`.
"""

from recsys.profiles.checks import MAX_BATCH
from recsys.profiles.errors import ProfileError, ProfileNotFound, StoreError
from recsys.profiles.faults import FAULT_ENV
from recsys.profiles.location import PROFILES_ENV, default_location
from recsys.profiles.records import (
    Counts,
    Entry,
    Forgotten,
    History,
    Movie,
    Profile,
    ProfileSummary,
    Rating,
    Stored,
    WatchlistChange,
)
from recsys.profiles.schema import SCHEMA_VERSION
from recsys.profiles.store import ProfileStore, open_store

__all__ = [
    "FAULT_ENV",
    "MAX_BATCH",
    "PROFILES_ENV",
    "SCHEMA_VERSION",
    "Counts",
    "Entry",
    "Forgotten",
    "History",
    "Movie",
    "Profile",
    "ProfileError",
    "ProfileNotFound",
    "ProfileStore",
    "ProfileSummary",
    "Rating",
    "StoreError",
    "Stored",
    "WatchlistChange",
    "default_location",
    "open_store",
]
