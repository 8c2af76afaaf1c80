"""A profile as a JSON document a person can keep, and the checks that let one back in.

    {"format": "movierec-profile", "version": 1, "name": "alice",
     "dataset": "<fingerprint>", "created_at": "2026-12-04T17:35:00.000000Z",
     "exported_at": "...",
     "ratings":   [{"movie": 1, "title": "Toy Story", "year": 1995, "rating": 4.5,
                    "stored_at": "..."}, ...],          # oldest first
     "seen":      [{"movie": 2, "title": "...", "year": null, "stored_at": "..."}, ...],
     "watchlist": [{"movie": 3, "title": "...", "year": 1999, "stored_at": "..."}, ...]}

Importing keeps each list's order; `stored_at` may be left out (the import time is used).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from recsys.profiles.checks import (
    MAX_DATASET,
    duplicate_problems,
    movie_problems,
    rating_problem,
    text_problem,
)
from recsys.profiles.errors import ProfileError, batch_error
from recsys.profiles.names import name_problem
from recsys.profiles.records import Entry, Movie, Profile
from recsys.profiles.stamps import parse_text, to_text

FORMAT = "movierec-profile"
VERSION = 1
MAX_ENTRIES = 100_000  # a person's profile; far above any real one, bounded against abuse
LISTS = ("ratings", "seen", "watchlist")


@dataclass(frozen=True)
class Imported:
    """A checked document. Entries carry the sequence numbers they will be stored with."""

    name: str | None
    dataset: str
    created_at: datetime | None
    ratings: tuple[Entry, ...]
    seen: tuple[Entry, ...]
    watchlist: tuple[Entry, ...]


def _item(entry: Entry, with_rating: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "movie": entry.movie.id,
        "title": entry.movie.title,
        "year": entry.movie.year,
    }
    if with_rating:
        item["rating"] = entry.rating
    item["stored_at"] = to_text(entry.stored_at)
    return item


def to_document(profile: Profile, exported_at: datetime) -> dict[str, Any]:
    """The profile as a JSON-able dict; the namespace is left out (it is the server's business)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": profile.name,
        "dataset": profile.dataset,
        "created_at": to_text(profile.created_at),
        "exported_at": to_text(exported_at),
        "ratings": [_item(e, True) for e in profile.ratings],
        "seen": [_item(e, False) for e in profile.seen],
        "watchlist": [_item(e, False) for e in profile.watchlist],
    }


def _header(doc: object) -> Mapping[str, Any]:
    """The document as a mapping of a version this code reads, or a ProfileError."""
    if not isinstance(doc, Mapping):
        raise ProfileError(f"a profile document is a JSON object, not {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise ProfileError(
            f"not a movierec profile document: 'format' is {doc.get('format')!r}, "
            f"expected {FORMAT!r} (export_profile writes one)"
        )
    if doc.get("version") != VERSION:
        raise ProfileError(
            f"profile document version {doc.get('version')!r} is not one this movierec reads "
            f"({VERSION}); export it again with this version, or upgrade movierec"
        )
    total = sum(len(doc[k]) for k in LISTS if isinstance(doc.get(k), list))
    if total > MAX_ENTRIES:
        raise ProfileError(
            f"the document holds {total:,} entries; at most {MAX_ENTRIES:,} can be imported"
        )
    return doc


def _entry(
    label: str, raw: object, rated: bool, now: datetime, problems: list[str]
) -> Entry | None:
    """One list item as an Entry (seq 0 until numbered); what is wrong goes to `problems`."""
    if not isinstance(raw, Mapping):
        problems.append(f"{label}: expected an object, got {type(raw).__name__}")
        return None
    movie = Movie(raw.get("movie"), raw.get("title"), raw.get("year"))  # type: ignore[arg-type]
    problems.extend(f"{label}: {p}" for p in movie_problems(movie))
    rating = raw.get("rating") if rated else None
    if rated and (bad := rating_problem(rating)):
        problems.append(f"{label}: {bad}")
    stamp = raw.get("stored_at")
    moment = parse_text(stamp) if isinstance(stamp, str) else None
    if stamp is not None and moment is None:
        problems.append(f"{label}: stored_at {stamp!r} is not an ISO 8601 time with a time zone")
    value = float(rating) if isinstance(rating, int | float) else None
    return Entry(movie, value, moment or now, 0)


def parse_document(doc: object, now: datetime) -> Imported:
    """A document checked whole: every problem in one ProfileError, or none.

    Entries are numbered in document order (ratings, then seen, then watchlist), which keeps
    the ratings' recency order; entries without `stored_at` get `now`.
    """
    mapping = _header(doc)
    problems: list[str] = []
    name = mapping.get("name")
    if name is not None and (bad := name_problem(name)):
        problems.append(f"name: {bad}")
    dataset = mapping.get("dataset")
    if bad := text_problem(dataset, "dataset fingerprint", MAX_DATASET):
        problems.append(f"dataset: {bad}")
    created = mapping.get("created_at")
    created_at = parse_text(created) if isinstance(created, str) else None
    if created is not None and created_at is None:
        problems.append(f"created_at {created!r} is not an ISO 8601 time with a time zone")
    lists: dict[str, list[Entry]] = {k: [] for k in LISTS}
    labels: dict[str, list[str]] = {k: [] for k in LISTS}
    for key in LISTS:
        raw_list = mapping.get(key, [])
        if not isinstance(raw_list, list):
            problems.append(f"{key}: expected a list, got {type(raw_list).__name__}")
            continue
        for i, raw in enumerate(raw_list):
            entry = _entry(f"{key}[{i}]", raw, key == "ratings", now, problems)
            if entry is not None:
                labels[key].append(f"{key}[{i}]")
                lists[key].append(entry)
    movies = {k: [e.movie for e in v] for k, v in lists.items()}
    hint = "keep one of them (a rated movie counts as seen)"
    duplicate_problems(
        labels["ratings"] + labels["seen"], movies["ratings"] + movies["seen"], problems, hint
    )
    duplicate_problems(labels["watchlist"], movies["watchlist"], problems, "keep one of them")
    if problems:
        raise batch_error(problems, action="imported")
    numbered: dict[str, tuple[Entry, ...]] = {}
    start = 1
    for key in LISTS:
        numbered[key] = tuple(replace(e, seq=start + i) for i, e in enumerate(lists[key]))
        start += len(lists[key])
    return Imported(
        name if isinstance(name, str) else None,
        str(dataset),
        created_at,
        numbered["ratings"],
        numbered["seen"],
        numbered["watchlist"],
    )
