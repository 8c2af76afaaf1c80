"""Shared vocabularies: genres, ML-1M age buckets and occupations.

Every dataset format is normalised onto these, so a model trained on one
format speaks the same words as the tools that query it.
"""

from __future__ import annotations

import difflib
import re

# Canonical genre names, in a fixed order (the multi-hot feature order).
# ML-1M/ML-100K spell "Children's"; the CSV family spells "Children".
GENRES: tuple[str, ...] = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

# Raw spellings that mean "no genre" in the source files.
NO_GENRE = frozenset({"(no genres listed)", "unknown", ""})

_GENRE_ALIASES: dict[str, str] = {
    "children's": "Children",
    "childrens": "Children",
    "kids": "Children",
    "family": "Children",
    "children": "Children",
    "sci-fi": "Sci-Fi",
    "scifi": "Sci-Fi",
    "sci fi": "Sci-Fi",
    "science fiction": "Sci-Fi",
    "science-fiction": "Sci-Fi",
    "sf": "Sci-Fi",
    "film noir": "Film-Noir",
    "film-noir": "Film-Noir",
    "noir": "Film-Noir",
    "animated": "Animation",
    "cartoon": "Animation",
    "anime": "Animation",
    "documentaries": "Documentary",
    "doc": "Documentary",
    "docs": "Documentary",
    "musicals": "Musical",
    "romantic": "Romance",
    "thrillers": "Thriller",
    "suspense": "Thriller",
    "comedies": "Comedy",
    "funny": "Comedy",
    # What the data can honour of "feel-good": MovieLens records no mood.
    "feel-good": "Comedy",
    "feel good": "Comedy",
    "feelgood": "Comedy",
    "westerns": "Western",
    "war movies": "War",
    "horror movies": "Horror",
    "scary": "Horror",
    "mysteries": "Mystery",
    "dramas": "Drama",
    "action movies": "Action",
    "adventures": "Adventure",
    "crime movies": "Crime",
    "imax": "IMAX",
}


# Words that name two genres at once: a movie must carry both (an ALL-of group).
GENRE_GROUP_ALIASES: dict[str, tuple[str, ...]] = {
    "rom-com": ("Romance", "Comedy"),
    "rom-coms": ("Romance", "Comedy"),
    "romcom": ("Romance", "Comedy"),
    "romcoms": ("Romance", "Comedy"),
    "rom com": ("Romance", "Comedy"),
    "romantic comedy": ("Romance", "Comedy"),
    "romantic comedies": ("Romance", "Comedy"),
}

# Words people use for kinds of film MovieLens does not record, with the genres closest in
# meaning to suggest instead (a spelling match would offer "Thriller" for "superhero").
NOT_A_GENRE: dict[str, tuple[str, ...]] = {
    "superhero": ("Action", "Adventure", "Sci-Fi"),
    "superheroes": ("Action", "Adventure", "Sci-Fi"),
    "super hero": ("Action", "Adventure", "Sci-Fi"),
    "comic book": ("Action", "Adventure", "Sci-Fi"),
    "teen": ("Comedy", "Romance"),
    "teens": ("Comedy", "Romance"),
    "teen movies": ("Comedy", "Romance"),
    "high school": ("Comedy", "Romance"),
    "coming of age": ("Drama", "Comedy"),
    "biopic": ("Drama", "Documentary"),
    "biography": ("Drama", "Documentary"),
    "sports": ("Drama", "Comedy"),
    "spy": ("Action", "Thriller"),
    "disaster": ("Action", "Thriller"),
    "martial arts": ("Action",),
    "zombie": ("Horror",),
    "slasher": ("Horror", "Thriller"),
    "historical": ("Drama", "War"),
    "period": ("Drama", "Romance"),
}


def _key(raw: str) -> str:
    return re.sub(r"\s+", " ", raw.strip().lower())


def canonical_genre(raw: str) -> str | None:
    """Map a raw or user-typed genre to its canonical name; None if unknown.

    Case-insensitive; knows the spellings of every MovieLens format and the
    usual aliases ("scifi", "science fiction", "kids"). A word naming two
    genres ("rom-com") is no single genre: see `genre_group`.
    """
    key = _key(raw)
    for genre in GENRES:
        if genre.lower() == key:
            return genre
    return _GENRE_ALIASES.get(key)


def genre_group(raw: str) -> tuple[str, ...] | None:
    """The genres a typed word names, all required together: one for "sci fi", two for
    "rom-com" (Romance and Comedy); None if unknown."""
    single = canonical_genre(raw)
    if single is not None:
        return (single,)
    return GENRE_GROUP_ALIASES.get(_key(raw))


def meant_genres(raw: str) -> tuple[str, ...] | None:
    """For a word naming a kind of film MovieLens does not record ("superhero"), the genres
    closest in meaning; None for any other word."""
    return NOT_A_GENRE.get(_key(raw))


def closest_genres(raw: str, n: int = 3) -> list[str]:
    """Best guesses for a genre that is not one, for error messages: close in meaning for the
    words in `NOT_A_GENRE`, else close in spelling."""
    meant = meant_genres(raw)
    if meant is not None:
        return list(meant[:n])
    names = {g.lower(): g for g in GENRES} | dict(_GENRE_ALIASES)
    hits = difflib.get_close_matches(_key(raw), list(names), n=n, cutoff=0.5)
    out: list[str] = []
    for hit in hits:
        genre = names[hit]
        if genre not in out:
            out.append(genre)
    return out


# ML-1M age codes -> readable bucket. Ages in years (ML-100K, stated ages)
# are mapped onto these codes with `age_bucket`.
AGE_BUCKETS: dict[int, str] = {
    1: "Under 18",
    18: "18-24",
    25: "25-34",
    35: "35-44",
    45: "45-49",
    50: "50-55",
    56: "56+",
}


def age_bucket(age_years: int) -> int:
    """The ML-1M age code for an age in years."""
    if age_years < 18:
        return 1
    if age_years < 25:
        return 18
    if age_years < 35:
        return 25
    if age_years < 45:
        return 35
    if age_years < 50:
        return 45
    if age_years < 56:
        return 50
    return 56


# ML-1M occupation codes as readable names (users.dat stores the code).
ML1M_OCCUPATIONS: dict[int, str] = {
    0: "other",
    1: "academic/educator",
    2: "artist",
    3: "clerical/admin",
    4: "college/grad student",
    5: "customer service",
    6: "doctor/health care",
    7: "executive/managerial",
    8: "farmer",
    9: "homemaker",
    10: "K-12 student",
    11: "lawyer",
    12: "programmer",
    13: "retired",
    14: "sales/marketing",
    15: "scientist",
    16: "self-employed",
    17: "technician/engineer",
    18: "tradesman/craftsman",
    19: "unemployed",
    20: "writer",
}

# Free-text words that point at an occupation, for stated occupations
# ("software engineer" -> programmer). Checked against whichever
# occupation vocabulary the model was trained with.
_OCCUPATION_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("programmer", ("software", "developer", "programmer", "coder", "devops", "web dev")),
    ("doctor", ("doctor", "physician", "surgeon", "dentist", "medic")),
    ("health", ("nurse", "health", "pharmac", "paramedic", "therapist", "healthcare")),
    ("educator", ("teacher", "professor", "lecturer", "educator", "academic", "tutor")),
    ("student", ("student", "undergrad", "phd", "grad student", "pupil")),
    ("engineer", ("engineer", "technician", "mechanic", "electrician")),
    ("scientist", ("scientist", "researcher", "physicist", "chemist", "biologist")),
    ("artist", ("artist", "painter", "musician", "designer", "actor", "photographer")),
    ("writer", ("writer", "author", "journalist", "editor", "poet", "novelist")),
    ("lawyer", ("lawyer", "attorney", "solicitor", "paralegal", "judge")),
    ("executive", ("executive", "manager", "ceo", "director", "managerial")),
    ("sales", ("sales", "marketing", "salesman", "saleswoman")),
    ("clerical", ("clerk", "clerical", "secretary", "admin", "receptionist", "office")),
    ("administrator", ("administrator",)),
    ("retired", ("retired", "retiree", "pensioner")),
    ("homemaker", ("homemaker", "housewife", "househusband", "stay at home", "parent")),
    ("unemployed", ("unemployed", "jobless", "between jobs")),
    ("self-employed", ("self-employed", "self employed", "freelance", "contractor")),
    ("farmer", ("farmer", "farm", "rancher")),
    ("tradesman", ("carpenter", "plumber", "tradesman", "craftsman", "builder", "welder")),
    ("customer service", ("customer service", "support", "call center", "cashier", "waiter")),
    ("librarian", ("librarian",)),
    ("entertainment", ("entertainment", "actor", "comedian", "performer")),
    ("marketing", ("marketing", "advertising")),
)


def match_occupation(text: str, vocabulary: list[str]) -> str | None:
    """Map free text to one entry of `vocabulary`, or None when nothing fits.

    Exact (case-insensitive) names win, then keyword hints, then fuzzy
    spelling matches.
    """
    key = text.strip().lower()
    if not key or not vocabulary:
        return None
    lowered = {v.lower(): v for v in vocabulary}
    if key in lowered:
        return lowered[key]
    for stem, words in _OCCUPATION_HINTS:
        if any(w in key for w in words):
            for v in vocabulary:
                if stem in v.lower():
                    return v
    for v in vocabulary:
        parts = re.split(r"[/ ]", v.lower())
        if key in parts or any(p and p in key for p in parts if len(p) > 3):
            return v
    close = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.75)
    return lowered[close[0]] if close else None
