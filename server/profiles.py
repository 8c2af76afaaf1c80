"""Personal profiles served (issue #14): the store, the caller's namespace and this bundle's
catalogue brought together, one method per tool, each returning a validated result model.

- Namespaces: each request's profiles are those of its credential (`server.auth`); a tool
  never sees another namespace.
- Datasets: a profile records the dataset fingerprint it was made with, and each entry its
  title and year. A profile of this server's dataset is read by id. One of another dataset is
  read by title and year (`recsys.serving.people.match_movie`, exact titles only); entries
  no movie here matches are listed, never read as another film. Such a profile cannot be
  added to until moved onto this dataset (export_profile, then import_profile, which maps).
- Sizes: every answer stays under `Limits.answer_chars`: long lists keep their most recent
  entries, and the answer says how many were left out and where to see them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from recsys.profiles import (
    Entry,
    Movie,
    Profile,
    ProfileError,
    ProfileNotFound,
    ProfileStore,
    Rating,
)
from recsys.profiles.checks import check_size, duplicate_problems, rating_problem
from recsys.profiles.document import parse_document
from recsys.profiles.errors import batch_error
from recsys.serving.errors import RecommenderError
from recsys.serving.filters import Filters
from recsys.serving.people import Person, match_movie
from recsys.serving.recommender import Recommender
from recsys.serving.titles import TitleIndex
from server import profile_schemas as ps
from server.auth import namespace_of
from server.schemas import MAX_TEXT, UserRecommendations

LISTS = ("ratings", "seen", "watchlist")
SHOWN_PER_LIST = 100  # entries get_profile shows per list (the most recent)
Model = TypeVar("Model", bound=BaseModel)


@dataclass
class Readable:
    """A stored profile as this server reads it: each entry with its movie id here, or why not."""

    profile: Profile
    matches: bool  # made with this server's dataset
    ids: dict[str, list[tuple[Entry, int]]] = field(default_factory=dict)  # list -> (entry, id)
    unmapped: list[tuple[str, Entry, str]] = field(default_factory=list)  # (list, entry, why)


def _unmapped(items: Sequence[tuple[str, Entry, str]]) -> list[dict[str, Any]]:
    return [{"movie": e.movie, "list": where, "why": why} for where, e, why in items]


def _stars(value: object) -> tuple[float | None, str | None]:
    """A rating as stars, or why it is not one."""
    if isinstance(value, str) and value.strip().lower() in ("liked", "disliked"):
        return (ps.LIKED_STARS if value.strip().lower() == "liked" else ps.DISLIKED_STARS), None
    if isinstance(value, str):
        return None, (
            f"rating {_described(value)} is not a number; use 0.5 to 5.0 stars in steps of "
            "0.5, or 'liked' / 'disliked'"
        )
    problem = rating_problem(value)
    if problem or not isinstance(value, int | float):
        return None, f"{problem}, or 'liked' / 'disliked'"
    return float(value), None


def _described(ref: object) -> str:
    text = repr(ref)
    return text if len(text) <= 60 else text[:57] + "..."


def fit(data: dict[str, Any], lists: Sequence[str], cap: int) -> tuple[dict[str, Any], int]:
    """`data` with its `lists` cut to their most recent entries until its JSON has at most
    `cap` characters; how many entries were left out."""
    size = len(json.dumps(data))
    dropped = 0
    while size > cap:
        longest = max(lists, key=lambda k: len(data[k]))
        keep = len(data[longest]) // 2
        if not data[longest]:
            break
        dropped += len(data[longest]) - keep
        data = {**data, longest: data[longest][len(data[longest]) - keep :]}
        size = len(json.dumps(data))
    return data, dropped


class ProfileService:
    """The profile tools' work, over one store, one recommender and the token namespaces."""

    def __init__(
        self,
        rec: Recommender,
        store: ProfileStore,
        namespaces: Mapping[str, str],
        answer_chars: int,
    ) -> None:
        self.rec = rec
        self.store = store
        self.fingerprint = rec.dataset_fingerprint
        self.answer_chars = answer_chars
        self._namespaces = dict(namespaces)

    def namespace(self, headers: Mapping[str, str] | None) -> str:
        try:
            return namespace_of(headers, self._namespaces)
        except PermissionError as exc:
            raise ProfileError(str(exc)) from exc

    # ------------------------------------------------------------------ movies

    def _record(self, index: int) -> Movie:
        """How a profile remembers a movie of this catalogue: id, dataset title, year."""
        info = self.rec.catalogue.info(index)
        return Movie(info.movie_id, info.dataset_title, info.year)

    def _resolve(self, label: str, ref: object, problems: list[str]) -> Movie | None:
        if isinstance(ref, str) and len(ref) > MAX_TEXT:
            problems.append(f"{label}: a title of {len(ref):,} characters; at most {MAX_TEXT}")
            return None
        try:
            return self._record(self.rec.catalogue.resolve(ref))
        except RecommenderError as exc:
            problems.append(f"{label} ({_described(ref)}): {exc}")
            return None

    def _resolved_batch(
        self, ratings: Sequence[ps.RatingIn], seen: Sequence[object]
    ) -> tuple[list[Rating], list[Movie]]:
        """Every item resolved to a movie of this catalogue, or one error listing every bad one."""
        check_size(len(ratings) + len(seen), "ratings and seen movies")
        problems: list[str] = []
        labels: list[str] = []
        movies: list[Movie | None] = []
        out_ratings: list[Rating] = []
        for i, item in enumerate(ratings):
            movie = self._resolve(f"ratings[{i}]", item.movie, problems)
            stars, bad = _stars(item.rating)
            if bad:
                problems.append(f"ratings[{i}] ({_described(item.movie)}): {bad}")
            labels.append(f"ratings[{i}]")
            movies.append(movie)
            if movie is not None and stars is not None:
                out_ratings.append(Rating(movie, stars))
        out_seen: list[Movie] = []
        for i, ref in enumerate(seen):
            movie = self._resolve(f"seen[{i}]", ref, problems)
            labels.append(f"seen[{i}]")
            movies.append(movie)
            if movie is not None:
                out_seen.append(movie)
        duplicate_problems(labels, movies, problems)
        if problems:
            raise batch_error(problems)
        return out_ratings, out_seen

    # ------------------------------------------------------------------ reading profiles

    def read(self, namespace: str, name: str) -> Readable:
        """The profile with each entry's movie here: by id on this dataset, else by title+year."""
        profile = self.store.get(namespace, name)
        readable = Readable(profile, profile.dataset == self.fingerprint)
        catalogue = self.rec.catalogue
        for where in LISTS:
            pairs: list[tuple[Entry, int]] = []
            entries = getattr(profile, where)
            if readable.matches:  # by id, all at once (the common case: keep it fast)
                found = self.rec.movie_indices([e.movie.id for e in entries]).tolist()
            for position, entry in enumerate(entries):
                m = entry.movie
                index: int | None
                if readable.matches:
                    index = found[position] if found[position] >= 0 else None
                    why = f"no movie has id {m.id} in this server's catalogue"
                else:
                    index = match_movie(catalogue, m.title, m.year)
                    year = f" ({m.year})" if m.year is not None else ""
                    why = f"made with another dataset; no single movie here is {m.title!r}{year}"
                if index is None:
                    readable.unmapped.append((where, entry, why))
                else:
                    pairs.append(
                        (entry, m.id if readable.matches else int(catalogue.movie_ids[index]))
                    )
            readable.ids[where] = pairs
        self._drop_repeats(readable)
        return readable

    def _drop_repeats(self, readable: Readable) -> None:
        """Entries of another dataset that land on one film here: the latest rating counts."""
        if readable.matches:
            return
        rated: dict[int, int] = {}
        for position, (_, movie_id) in enumerate(readable.ids["ratings"]):
            rated[movie_id] = position
        kept = []
        for position, (entry, movie_id) in enumerate(readable.ids["ratings"]):
            if rated[movie_id] == position:
                kept.append((entry, movie_id))
            else:
                why = "the same film here as a later rating, which counts instead"
                readable.unmapped.append(("ratings", entry, why))
        readable.ids["ratings"] = kept
        readable.ids["seen"] = [(e, m) for e, m in readable.ids["seen"] if m not in rated]

    def person(
        self,
        readable: Readable,
        genres: Sequence[str] = (),
        age: int | None = None,
        occupation: str | None = None,
        gender: str | None = None,
    ) -> Person:
        return Person(
            name=readable.profile.name,
            ratings=tuple((m, float(e.rating or 0.0)) for e, m in readable.ids["ratings"]),
            seen=tuple(m for _, m in readable.ids["seen"]),
            genres=tuple(genres),
            age=age,
            occupation=occupation,
            gender=gender,
        )

    def _unmapped_note(self, name: str, count: int) -> str | None:
        if not count:
            return None
        return (
            f"{count} entries of profile {name!r} match no movie here and were left out; "
            "get_profile lists them."
        )

    def _person_of(
        self,
        namespace: str,
        name: str,
        genres: Sequence[str] = (),
        age: int | None = None,
        occupation: str | None = None,
        gender: str | None = None,
    ) -> tuple[Person, int]:
        """The profile as a Person, and how many of its entries could not be read here."""
        history = self.store.history(namespace, name)
        if history.dataset != self.fingerprint:  # by title and year, entry by entry
            readable = self.read(namespace, name)
            person = self.person(readable, genres, age, occupation, gender)
            return person, len(readable.unmapped)
        rated = [m for m, _ in history.ratings]
        known = (self.rec.movie_indices([*rated, *history.seen]) >= 0).tolist()
        ratings = tuple(r for r, ok in zip(history.ratings, known, strict=False) if ok)
        seen = tuple(m for m, ok in zip(history.seen, known[len(rated) :], strict=True) if ok)
        person = Person(name, ratings, seen, tuple(genres), age, occupation, gender)
        return person, len(known) - sum(known)

    def _on_this_dataset(self, namespace: str, name: str, action: str) -> None:
        """After a store refusal: a clear error when the profile belongs to another dataset."""
        try:
            held = self.store.get(namespace, name).dataset
        except ProfileNotFound:
            return
        if held != self.fingerprint:
            raise ProfileError(
                f"profile {name!r} was made with another dataset, whose movie ids mean other "
                f"films here, so this server cannot {action} it. It can still read it by title "
                "and year (get_profile, recommend_for_user). To move it onto this dataset: "
                "export_profile, then import_profile with that document and replace=true "
                "(entries are mapped by title and year; those no movie here matches are listed "
                "and left out)."
            )

    # ------------------------------------------------------------------ tools

    def rate(
        self,
        namespace: str,
        name: str,
        ratings: Sequence[ps.RatingIn],
        seen: Sequence[object],
    ) -> ps.RateResult:
        checked, seen_movies = self._resolved_batch(ratings, seen)
        try:
            stored = self.store.rate(
                namespace, name, dataset=self.fingerprint, ratings=checked, seen=seen_movies
            )
        except ProfileError:
            self._on_this_dataset(namespace, name, "add ratings to")
            raise
        counts = self.store.counts(namespace, name)
        data = {
            "profile": name,
            **{k: getattr(stored, k) for k in ("ratings", "seen", "unchanged")},
            "counts": counts,
            "note": None,
        }
        return self._fitted(ps.RateResult, data, ("ratings", "seen", "unchanged"), "stored")

    def get(self, namespace: str, name: str) -> ps.ProfileView:
        readable = self.read(namespace, name)
        profile = readable.profile
        notes = [n for n in (self._unmapped_note(name, len(readable.unmapped)),) if n]
        shown = {k: list(getattr(profile, k))[-SHOWN_PER_LIST:] for k in LISTS}
        cut = [
            f"the {len(shown[k])} most recent of {len(getattr(profile, k))} {k}"
            for k in LISTS
            if len(shown[k]) < len(getattr(profile, k))
        ]
        if cut:
            notes.append(
                f"Showing {', '.join(cut)}; export_profile or resource "
                f"movierec://profile/{name} holds them all."
            )
        data = {
            "profile": name,
            "created_at": profile.created_at,
            "dataset_matches": readable.matches,
            "counts": profile.counts,
            "favourite_genres": self.rec.describe(self.person(readable)).favourite_genres,
            **shown,
            "unmapped": _unmapped(readable.unmapped),
            "note": " ".join(notes) or None,
        }
        return self._fitted(ps.ProfileView, data, (*LISTS, "unmapped"), "shown")

    def list_profiles(self, namespace: str) -> ps.ProfileList:
        found = self.store.list_profiles(namespace)
        data = {
            "profiles": [
                {**asdict(p), "dataset_matches": p.dataset == self.fingerprint} for p in found
            ],
            "note": None if found else "No profiles yet: rating a movie creates one.",
        }
        return self._fitted(ps.ProfileList, data, ("profiles",), "listed")

    def _own_entries(
        self, entries: Sequence[Entry], refs: Sequence[object], what: str
    ) -> tuple[list[int], list[str]]:
        """The stored ids of `refs` among `entries` (ids as stored, or titles matched against
        the entries' own titles), and the refs that match none; ambiguity is an error."""
        by_id = {e.movie.id for e in entries}
        index = TitleIndex.build([e.movie.title for e in entries], [e.movie.year for e in entries])
        ids: list[int] = []
        missing: list[str] = []
        problems: list[str] = []
        for i, ref in enumerate(refs):
            if isinstance(ref, int) and not isinstance(ref, bool):
                if ref in by_id:
                    ids.append(ref)
                else:
                    missing.append(str(ref))
                continue
            found = index.resolve(str(ref))
            if found.status == "found" and found.index is not None:
                ids.append(entries[found.index].movie.id)
            elif found.status == "ambiguous":
                names = "; ".join(
                    f"{entries[c].movie.title} (id {entries[c].movie.id})" for c in found.candidates
                )
                problems.append(
                    f"movies[{i}] ({_described(ref)}) matches several of the {what}: {names}; "
                    "pass the id"
                )
            else:
                missing.append(str(ref))
        if problems:
            raise batch_error(problems, action="changed")
        return list(dict.fromkeys(ids)), missing

    def watchlist_add(
        self, namespace: str, name: str, movies: Sequence[object]
    ) -> ps.WatchlistResult:
        problems: list[str] = []
        check_size(len(movies), "movies")
        resolved = [self._resolve(f"movies[{i}]", ref, problems) for i, ref in enumerate(movies)]
        duplicate_problems(
            [f"movies[{i}]" for i in range(len(movies))], resolved, problems, "give each movie once"
        )
        if problems:
            raise batch_error(problems)
        try:
            change = self.store.watchlist_add(
                namespace, name, dataset=self.fingerprint, movies=[m for m in resolved if m]
            )
        except ProfileError:
            self._on_this_dataset(namespace, name, "add to the watchlist of")
            raise
        data = {
            "profile": name,
            "added": change.added,
            "unchanged": change.unchanged,
            "removed": [],
            "not_found": [],
            "counts": self.store.counts(namespace, name),
            "note": None,
        }
        return self._fitted(ps.WatchlistResult, data, ("added", "unchanged"), "shown")

    def watchlist_remove(
        self, namespace: str, name: str, movies: Sequence[object]
    ) -> ps.WatchlistResult:
        check_size(len(movies), "movies")
        profile = self.store.get(namespace, name)
        ids, missing = self._own_entries(profile.watchlist, movies, "watchlist's movies")
        removed = self.store.watchlist_remove(namespace, name, ids) if ids else ()
        data: dict[str, Any] = {
            "profile": name,
            "added": [],
            "unchanged": [],
            "removed": removed,
            "not_found": missing,
            "counts": self.store.counts(namespace, name),
            "note": None if ids else "Nothing was removed.",
        }
        return self._fitted(ps.WatchlistResult, data, ("removed", "not_found"), "shown")

    def forget(self, namespace: str, name: str, movies: Sequence[object] | None) -> ps.ForgetResult:
        missing: list[str] = []
        ids: list[int] | None = None
        if movies is not None:
            check_size(len(movies), "movies")
            profile = self.store.get(namespace, name)
            entries = [*profile.ratings, *profile.seen, *profile.watchlist]
            unique = list({e.movie.id: e for e in entries}.values())
            ids, missing = self._own_entries(unique, movies, "profile's movies")
        gone = self.store.forget(namespace, name, ids)
        if gone.erased:
            how = (
                "The deleted entries are erased from the database file too (overwritten, and "
                "the write-ahead log checkpointed)."
            )
        else:
            how = (
                "The entries are deleted and no longer readable through movierec, but this "
                "database (PostgreSQL) keeps the dead rows in its files until VACUUM reclaims "
                "them; ask its administrator to run VACUUM for them to be erased."
            )
        whole = "The whole profile was deleted. " if gone.profile else ""
        data = {
            "profile": name,
            "whole_profile": gone.profile,
            "ratings": gone.ratings,
            "seen": gone.seen,
            "watchlist": gone.watchlist,
            "not_found": missing,
            "erased": gone.erased,
            "note": whole + how,
        }
        return self._fitted(ps.ForgetResult, data, (*LISTS, "not_found"), "shown")

    def export(self, namespace: str, name: str) -> ps.ExportResult:
        document = self.store.export(namespace, name)
        counts = {k: len(document[k]) for k in LISTS}
        data: dict[str, Any] = {
            "profile": name,
            "document": document,
            "counts": counts,
            "note": "Keep this document; import_profile reads it back, on any movierec server.",
        }
        if len(json.dumps(data)) * 2 > self.answer_chars:  # the text repeats the document
            data["document"] = None
            data["note"] = (
                f"The document is too large for one answer (this server keeps answers under "
                f"{self.answer_chars:,} characters); read resource movierec://profile/{name} "
                "for all of it."
            )
        return ps.ExportResult.model_validate(data)

    def document(self, namespace: str, name: str) -> dict[str, Any]:
        return self.store.export(namespace, name)

    def import_profile(
        self,
        namespace: str,
        document: Mapping[str, Any],
        name: str | None,
        replace: bool,
    ) -> ps.ImportResult:
        checked = parse_document(document, datetime.now(UTC))  # every problem, before mapping
        target = name if name is not None else checked.name
        unmapped: list[tuple[str, Entry, str]] = []
        mapped = checked.dataset != self.fingerprint
        if mapped:
            document, unmapped = self._mapped_document(document, checked.dataset)
        try:
            old = self.store.get(namespace, target) if target is not None and replace else None
        except ProfileNotFound:
            old = None
        profile = self.store.import_profile(namespace, name, document, replace=replace)
        notes = []
        if mapped:
            notes.append(
                f"The document was made with another dataset: its entries were mapped onto this "
                f"one by title and year; {len(unmapped)} matched no movie here and were left out."
            )
        data = {
            "profile": profile.name,
            "replaced": old is not None,
            "mapped": mapped,
            "counts": profile.counts,
            "unmapped": _unmapped(unmapped),
            "note": " ".join(notes) or None,
        }
        return self._fitted(ps.ImportResult, data, ("unmapped",), "listed")

    def _mapped_document(
        self, document: Mapping[str, Any], dataset: str
    ) -> tuple[dict[str, Any], list[tuple[str, Entry, str]]]:
        """The document with its entries' ids of `dataset` replaced by this catalogue's."""
        readable_lists: dict[str, list[dict[str, Any]]] = {}
        unmapped: list[tuple[str, Entry, str]] = []
        taken: set[tuple[str, int]] = set()
        catalogue = self.rec.catalogue
        for where in LISTS:
            out = []
            for item in document.get(where, []):
                index = match_movie(catalogue, str(item.get("title")), item.get("year"))
                movie = Movie(int(item["movie"]), str(item["title"]), item.get("year"))
                stamp = datetime.now(UTC)
                entry = Entry(movie, item.get("rating"), stamp, 0)
                if index is None:
                    year = f" ({movie.year})" if movie.year is not None else ""
                    why = f"no single movie here is {movie.title!r}{year}"
                    unmapped.append((where, entry, why))
                    continue
                here = self._record(index)
                group = "watchlist" if where == "watchlist" else "entries"
                if (group, here.id) in taken:
                    unmapped.append((where, entry, "the same film here as an earlier entry"))
                    continue
                taken.add((group, here.id))
                out.append({**item, "movie": here.id, "title": here.title, "year": here.year})
            readable_lists[where] = out
        return {**document, "dataset": self.fingerprint, **readable_lists}, unmapped

    def recommend(
        self,
        namespace: str,
        name: str,
        k: int,
        filters: Filters,
        exclude_seen: bool,
        genres: Sequence[str],
        age: int | None,
        occupation: str | None,
        gender: str | None,
    ) -> UserRecommendations:
        person, unmapped = self._person_of(namespace, name, genres, age, occupation, gender)
        result = self.rec.for_person(person, k=k, filters=filters, exclude_seen=exclude_seen)
        note = " ".join(n for n in (result.note, self._unmapped_note(name, unmapped)) if n)
        return UserRecommendations.model_validate(
            {
                "user": None,
                "profile": {**asdict(result.profile), "unmapped": unmapped},
                "items": result.items,
                "note": note or None,
            }
        )

    def group(
        self, namespace: str, names: Sequence[str], k: int, filters: Filters
    ) -> ps.GroupRecommendations:
        repeated = sorted({n for n in names if list(names).count(n) > 1})
        if repeated:
            raise ProfileError(f"profiles {', '.join(map(repr, repeated))} are named twice")
        people: list[tuple[Person, int]] = []
        missing: list[str] = []
        for n in names:
            try:
                people.append(self._person_of(namespace, n))
            except ProfileNotFound:
                missing.append(n)
        if missing:
            raise ProfileNotFound(
                f"there is no profile {', '.join(map(repr, missing))}: rate a few movies for "
                "each person first (rate_movies), or list_profiles to see which exist"
            )
        result = self.rec.for_group([p for p, _ in people], k=k, filters=filters)
        notes = [result.note, *(self._unmapped_note(p.name, n) for p, n in people)]
        return ps.GroupRecommendations.model_validate(
            {
                "members": [
                    {**asdict(m), "unmapped": n}
                    for m, (_, n) in zip(result.members, people, strict=True)
                ],
                "items": result.items,
                "method": result.method,
                "note": " ".join(n for n in notes if n) or None,
            }
        )

    # ------------------------------------------------------------------ sizes

    def _fitted(
        self,
        model: type[Model],
        data: dict[str, Any],
        lists: Sequence[str],
        verb: str,
        where: str = "export_profile or resource movierec://profile/NAME holds them all",
    ) -> Model:
        """The result, its lists cut (most recent kept) so the answer fits `answer_chars`."""
        full = model.model_validate(data).model_dump(mode="json")
        # Half the budget: the readable text beside the structured result repeats the lists.
        fitted, dropped = fit(full, lists, self.answer_chars // 2)
        if dropped:
            extra = (
                f"{dropped} more entries were {verb} than this answer shows (answers are kept "
                f"under {self.answer_chars:,} characters); "
                + where.replace("NAME", str(data.get("profile", "NAME")))
                + "."
            )
            fitted["note"] = " ".join(n for n in (fitted.get("note"), extra) if n)
        return model.model_validate(fitted)
