"""Short readable text beside each profile tool's structured result (see `server.render`)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from server import profile_schemas as ps
from server.render import _lines
from server.schemas import UserRecommendations

LISTED = 20  # entries a text names before "and N more"


def _movie(movie: ps.StoredMovie) -> str:
    year = (
        f" ({movie.year})"
        if movie.year is not None and f"({movie.year})" not in movie.title
        else ""
    )
    return f"{movie.title}{year} (id {movie.id})"


def _entries(entries: Sequence[ps.StoredEntry]) -> str:
    shown = [
        _movie(e.movie) + (f": {e.rating:g} stars" if e.rating is not None else "")
        for e in entries[:LISTED]
    ]
    more = f"; and {len(entries) - LISTED} more" if len(entries) > LISTED else ""
    return "; ".join(shown) + more


def _counts(name: str, counts: ps.Counts) -> str:
    return (
        f"{name} now holds {counts.ratings} ratings, {counts.seen} seen movies and "
        f"{counts.watchlist} on the watchlist."
    )


def _tail(note: str | None) -> list[str]:
    return [f"Note: {note}"] if note else []


def rate_text(r: ps.RateResult) -> str:
    lines = [f"Stored for {r.profile}:"]
    if r.ratings:
        lines.append(f"- {len(r.ratings)} ratings: {_entries(r.ratings)}")
    if r.seen:
        lines.append(f"- {len(r.seen)} seen: {_entries(r.seen)}")
    if r.unchanged:
        lines.append(
            f"- already in the profile, left as they were: "
            f"{'; '.join(_movie(m) for m in r.unchanged[:LISTED])}"
        )
    return "\n".join([*lines, _counts(r.profile, r.counts), *_tail(r.note)])


def profile_text(p: ps.ProfileView) -> str:
    made = "this server's dataset" if p.dataset_matches else "another dataset (read by title)"
    lines = [
        f"Profile {p.profile} (made with {made}): {p.counts.ratings} ratings, {p.counts.seen} "
        f"seen, {p.counts.watchlist} on the watchlist; favourite genres: "
        f"{', '.join(p.favourite_genres) or 'none yet'}."
    ]
    for label, entries in (
        ("Ratings, oldest first", p.ratings),
        ("Seen", p.seen),
        ("Watchlist", p.watchlist),
    ):
        if entries:
            lines.append(f"{label}: {_entries(entries)}")
    for u in p.unmapped[:LISTED]:
        lines.append(f"Not readable here ({u.list}): {_movie(u.movie)}: {u.why}")
    return "\n".join([*lines, *_tail(p.note)])


def list_text(r: ps.ProfileList) -> str:
    lines = [
        f"- {p.name}: {p.counts.ratings} ratings, {p.counts.seen} seen, "
        f"{p.counts.watchlist} on the watchlist"
        + ("" if p.dataset_matches else " (made with another dataset)")
        for p in r.profiles
    ]
    return "\n".join(["Profiles:" if lines else "No profiles.", *lines, *_tail(r.note)])


def watchlist_text(r: ps.WatchlistResult) -> str:
    lines = []
    if r.added:
        lines.append(f"Added to {r.profile}'s watchlist: {_entries(r.added)}")
    if r.unchanged:
        lines.append(f"Already there: {'; '.join(_movie(m) for m in r.unchanged[:LISTED])}")
    if r.removed:
        lines.append(f"Removed from {r.profile}'s watchlist: {_entries(r.removed)}")
    if r.not_found:
        lines.append(f"Not on the watchlist: {'; '.join(r.not_found[:LISTED])}")
    return "\n".join([*lines, _counts(r.profile, r.counts), *_tail(r.note)])


def forget_text(r: ps.ForgetResult) -> str:
    lines = [f"Deleted from {r.profile}:"]
    for label, entries in (("ratings", r.ratings), ("seen", r.seen), ("watchlist", r.watchlist)):
        if entries:
            lines.append(f"- {len(entries)} {label}: {_entries(entries)}")
    if len(lines) == 1:
        lines.append("- nothing")
    if r.not_found:
        lines.append(f"Not in the profile: {'; '.join(r.not_found[:LISTED])}")
    return "\n".join([*lines, r.note])


def export_text(r: ps.ExportResult) -> str:
    if r.document is None:
        return "\n".join([f"Profile {r.profile}:", *_tail(r.note)])
    return "\n".join(
        [
            f"Profile document for {r.profile} ({r.counts.ratings} ratings, {r.counts.seen} "
            f"seen, {r.counts.watchlist} on the watchlist). {r.note}",
            json.dumps(r.document, ensure_ascii=False),
        ]
    )


def import_text(r: ps.ImportResult) -> str:
    verb = "Replaced" if r.replaced else "Imported"
    lines = [
        f"{verb} profile {r.profile}: {r.counts.ratings} ratings, {r.counts.seen} seen, "
        f"{r.counts.watchlist} on the watchlist."
    ]
    for u in r.unmapped[:LISTED]:
        lines.append(f"Left out ({u.list}): {_movie(u.movie)}: {u.why}")
    return "\n".join([*lines, *_tail(r.note)])


def person_text(result: UserRecommendations) -> str:
    p = result.profile
    assert p is not None
    said = [f"liked genres {', '.join(p.stated_genres)}"] if p.stated_genres else []
    said += [v for v in (p.age_bucket, p.gender, p.occupation) if v]
    head = (
        f"Recommendations for profile {p.name}: {p.n_ratings} ratings read, {p.n_seen} seen "
        f"movies left out; favourite genres: {', '.join(p.favourite_genres) or 'none yet'}"
        + (f"; also told: {', '.join(said)}" if said else "")
        + "."
    )
    ignored = [f"Ignored: {why}" for why in p.ignored]
    return "\n".join([head, *ignored, *_lines(result.items, result.note)])


def group_text(r: ps.GroupRecommendations) -> str:
    who = ", ".join(m.profile for m in r.members)
    fit = ", ".join(f"{m.profile} {m.list_fit:g}" for m in r.members)
    head = f"For {who} together. {r.method}"
    return "\n".join(
        [head, *_lines(r.items, r.note), f"How well the list suits each (mean percentile): {fit}."]
    )
