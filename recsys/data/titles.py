"""MovieLens titles taken apart: variants, year, folded and normalised keys, display form.

MovieLens titles look like "Matrix, The (1999)" or "City of Lost Children,
The (Cité des enfants perdus, La) (1995)": a trailing article, alternate
titles in parentheses and the year last. These helpers are the one reading
of that layout: the title search (`recsys.serving.titles`) and the franchise
groups (`recsys.features.franchises`) both build on them.
"""

from __future__ import annotations

import re
import unicodedata

# Articles MovieLens moves to the end of a title ("Misérables, Les").
ARTICLES = (
    "the", "a", "an", "les", "la", "le", "l'", "il", "el", "das", "der", "die",
    "los", "las", "lo", "gli", "un", "une", "den", "det", "de", "het", "i",
)  # fmt: skip
# Leading words safe to drop from a title as an article; foreign ones are
# only trusted when MovieLens moved them (a leading "Die" in "Die Hard" is no article).
LEADING_ARTICLES = ("the", "a", "an")

YEAR_TAIL = re.compile(r"^(?P<text>.*?)[\s,]*\(\s*(?P<year>\d{4})\s*\)\s*$")
_RANGE_YEAR_TAIL = re.compile(r"\s*\(\s*\d{4}\s*[-–]\s*(\d{4})?\s*\)\s*$")
_TRAILING_ARTICLE = re.compile(
    r"^(?P<rest>.+?),\s*(?P<art>" + "|".join(re.escape(a) for a in ARTICLES) + r")\s*$"
)
_TRAILING_ARTICLE_CASED = re.compile(_TRAILING_ARTICLE.pattern, re.IGNORECASE)
# Sequel numerals read the same either way ("Godfather: Part II" = "godfather part 2").
# "I" and "X" stay words: "I, Robot", "Malcolm X".
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9"}
_AKA = re.compile(r"^(a\.?k\.?a\.?|aka)\s+", re.IGNORECASE)


def fold(text: str) -> str:
    """Accent- and case-folded text with unified apostrophes."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold().replace("’", "'").replace("`", "'").replace("&", " and ")


_ELISION = re.compile(r"\b([ld])'")
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Search key of already-folded text: words only, single spaces."""
    text = _ELISION.sub(r"\1 ", text)  # "l'avventura" -> "l avventura"
    text = text.replace("'", "")  # "schindler's" -> "schindlers"
    return " ".join(_ROMAN.get(t, t) for t in _NOT_WORD.sub(" ", text).split())


def split_title(raw: str) -> tuple[list[str], int | None]:
    """A MovieLens title's variants (main title first) and its year, if in the title."""
    text = raw.strip()
    year = None
    m = YEAR_TAIL.match(text)
    if m:
        text, year = m.group("text"), int(m.group("year"))
    else:
        text = _RANGE_YEAR_TAIL.sub("", text)  # series: "Death Note (2006–2007)"
    alternates: list[str] = []
    # Peel trailing "(...)" groups off as alternate titles, keeping a non-empty main title.
    while text.endswith(")"):
        depth, start = 0, -1
        for pos in range(len(text) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(text[pos], 0)
            if depth == 0:
                start = pos
                break
        if start <= 0 or not text[:start].strip():
            break
        alternates.insert(0, _AKA.sub("", text[start + 1 : -1].strip()))
        text = text[:start].rstrip()
    return [text, *[a for a in alternates if a]], year


def display_title(raw: str, year: int | None) -> str:
    """A title as people write it: "Matrix, The (1999)" -> "The Matrix (1999)",
    "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)" -> "Amelie (2001)"."""
    variants, title_year = split_title(raw)
    main = variants[0].strip() or raw.strip()
    m = _TRAILING_ARTICLE_CASED.match(main)
    if m:
        art, rest = m.group("art"), m.group("rest")
        main = f"{art}{rest}" if art.endswith("'") else f"{art} {rest}"
    shown_year = year if year is not None else title_year
    return f"{main} ({shown_year})" if shown_year is not None else main


def variant_keys(variant: str) -> tuple[str, str | None]:
    """(key with the article in front, key without it when the article is certain)."""
    folded = fold(variant).strip()
    m = _TRAILING_ARTICLE.match(folded)
    if m:
        rest, art = m.group("rest"), m.group("art")
        return normalise(f"{art} {rest}"), normalise(rest)
    full = normalise(folded)
    first, _, rest = full.partition(" ")
    if rest and first in LEADING_ARTICLES:
        return full, rest
    return full, None
