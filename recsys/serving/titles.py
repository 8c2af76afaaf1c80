"""Movie title search and resolution.

MovieLens titles ("Matrix, The (1999)") are taken apart by
`recsys.data.titles`. People type "The Matrix", "matrix",
"Les Miserables" or "Heat 1995". Each title is split into its variants (main
title and alternates), each variant gets a normalised key with the article
in front ("the matrix") and, where the article is known to be one, a bare key
without it ("matrix"). Keys are accent-folded, case-folded and free of
punctuation. All keys are computed once by `TitleIndex.build`.

Ranking tiers: exact key > prefix of a key > every query word in the title >
fuzzy (difflib ratio over candidates found by shared character trigrams).
Within a tier a matching year wins, then popularity (rating count).
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import SupportsInt

import numpy as np

from recsys.data.titles import (
    ARTICLES,
    YEAR_TAIL,
    normalise,
    split_title,
    variant_keys,
)

EXACT, PREFIX, TOKENS, FUZZY = 3, 2, 1, 0
TIER_NAMES = {EXACT: "exact", PREFIX: "prefix", TOKENS: "words", FUZZY: "fuzzy"}
FUZZY_MIN_RATIO = 0.5  # below this a fuzzy candidate is not worth showing
FUZZY_ACCEPT = 0.8  # resolve accepts a fuzzy match at or above this ratio ...
FUZZY_MARGIN = 0.1  # ... when it beats the runner-up by this much
FUZZY_POOL = 20  # keys scored with difflib per query (picked by trigram overlap)

_BARE_YEAR_TAIL = re.compile(r"^(?P<text>.*?\S)[\s,]+(?P<year>\d{4})\s*$")
NUMBER_PENALTY = 0.2  # fuzzy ratio lost per query number missing from a title


@dataclass(frozen=True)
class TitleHit:
    index: int  # dense movie index
    tier: int  # EXACT, PREFIX, TOKENS or FUZZY
    year_match: int  # 1 = the query's year, -1 = another year, 0 = no year asked
    ratio: float  # difflib similarity of the best key: fuzzy hits only (exact 1.0, others 0.0)

    @property
    def kind(self) -> str:
        return TIER_NAMES[self.tier]


@dataclass(frozen=True)
class Resolution:
    status: str  # "found" | "ambiguous" | "not_found"
    index: int | None  # the movie, when found
    candidates: tuple[int, ...]  # dense indices to offer instead, best first


def _query_forms(query: str) -> tuple[str, str]:
    """(query key, query key without a leading article) for a free-text query."""
    full, _ = variant_keys(query)
    first, _, rest = full.partition(" ")
    bare = rest if rest and first in {normalise(a) for a in ARTICLES} else full
    return full, bare


def _interpretations(query: str) -> list[tuple[str, int | None, bool]]:
    """(title text, year, year is explicit) readings of a query, year readings first.

    "Heat (1995)" has one reading; "Heat 1995" two, because a trailing
    number may be part of the title ("Blade Runner 2049").
    """
    q = query.strip()
    m = YEAR_TAIL.match(q)
    if m and m.group("text").strip():
        return [(m.group("text"), int(m.group("year")), True)]
    m = _BARE_YEAR_TAIL.match(q)
    if m and 1870 <= int(m.group("year")) <= 2100:
        return [(m.group("text"), int(m.group("year")), False), (q, None, False)]
    return [(q, None, False)]


def asked_year(query: str) -> int | None:
    """The release year a title query names at its end ("Dune 2021", "Dune (2021)"), if any."""
    return _interpretations(query)[0][1]


def _trigrams(key: str) -> set[str]:
    padded = f"  {key} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class TitleIndex:
    """Precomputed title keys for fast search over a catalogue."""

    def __init__(
        self,
        years: np.ndarray,
        popularity: np.ndarray,
        full_exact: dict[str, np.ndarray],
        bare_exact: dict[str, np.ndarray],
        sorted_keys: list[str],
        sorted_owner: np.ndarray,
        token_posts: dict[str, np.ndarray],
        keys: list[str],
        key_owner: np.ndarray,
        key_ngrams: np.ndarray,
        gram_posts: dict[str, np.ndarray],
    ) -> None:
        self.years = years
        self.popularity = popularity
        self._full_exact = full_exact
        self._bare_exact = bare_exact
        self._sorted_keys = sorted_keys
        self._sorted_owner = sorted_owner
        self._token_posts = token_posts
        self._keys = keys
        self._key_owner = key_owner
        self._key_ngrams = key_ngrams
        self._gram_posts = gram_posts

    @property
    def n_titles(self) -> int:
        return len(self.years)

    @classmethod
    def build(
        cls,
        titles: Sequence[str],
        years: Sequence[SupportsInt | None] | np.ndarray | None = None,
        popularity: Sequence[int] | np.ndarray | None = None,
    ) -> TitleIndex:
        """Index `titles` (row i = dense movie index i); years default to those in the titles."""
        n = len(titles)
        year_arr = np.full(n, -1, dtype=np.int64)  # -1 = unknown
        full_exact: dict[str, list[int]] = defaultdict(list)
        bare_exact: dict[str, list[int]] = defaultdict(list)
        keys: list[str] = []
        owners: list[int] = []
        tokens: dict[str, set[int]] = defaultdict(set)
        for i, title in enumerate(titles):
            variants, title_year = split_title(str(title))
            given = None if years is None else years[i]
            year = title_year if given is None or _is_missing(given) else int(given)
            year_arr[i] = -1 if year is None else year
            seen: set[str] = set()
            for variant in variants:
                full, bare = variant_keys(variant)
                if not full:
                    continue
                full_exact[full].append(i)
                if bare:
                    bare_exact[bare].append(i)
                for key in (full, bare):
                    if key and key not in seen:
                        seen.add(key)
                        keys.append(key)
                        owners.append(i)
                for token in full.split():
                    tokens[token].add(i)
        owner_arr = np.asarray(owners, dtype=np.int64)
        order = sorted(range(len(keys)), key=keys.__getitem__)
        grams: dict[str, list[int]] = defaultdict(list)
        n_grams = np.empty(len(keys), dtype=np.float32)
        for k, key in enumerate(keys):
            kg = _trigrams(key)
            n_grams[k] = len(kg)
            for g in kg:
                grams[g].append(k)
        pop = np.zeros(n, dtype=np.int64) if popularity is None else np.asarray(popularity)
        return cls(
            years=year_arr,
            popularity=pop.astype(np.int64),
            full_exact={k: np.unique(v) for k, v in full_exact.items()},
            bare_exact={k: np.unique(v) for k, v in bare_exact.items()},
            sorted_keys=[keys[k] for k in order],
            sorted_owner=owner_arr[order],
            token_posts={t: np.fromiter(sorted(s), np.int64, len(s)) for t, s in tokens.items()},
            keys=keys,
            key_owner=owner_arr,
            key_ngrams=n_grams,
            gram_posts={g: np.asarray(v, dtype=np.int64) for g, v in grams.items()},
        )

    # -- matching -----------------------------------------------------------

    def _exact(self, full: str, bare: str) -> np.ndarray:
        # The query as typed wins over the query without its article: "heat" is
        # "Heat (1995)", not "Heat, The (2013)"; "matrix" reaches "Matrix, The".
        for table, key in (
            (self._full_exact, full),
            (self._bare_exact, full),
            (self._full_exact, bare),
            (self._bare_exact, bare),
        ):
            hits = table.get(key)
            if hits is not None:
                return hits
        return np.empty(0, dtype=np.int64)

    def _exact_text(self, text: str) -> np.ndarray:
        """Exact matches for one reading of a query (year already removed)."""
        hits = self._exact(*_query_forms(text))
        variants, _ = split_title(text)
        if len(hits) or variants == [text.strip()]:
            return hits
        # A whole MovieLens title typed back, "Seven (a.k.a. Se7en)": match its parts.
        found = [self._exact(*_query_forms(v)) for v in variants]
        common = found[0]
        for f in found[1:]:
            common = np.intersect1d(common, f)
        return common if len(common) else np.unique(np.concatenate(found))

    def _prefix(self, key: str) -> np.ndarray:
        lo = bisect.bisect_left(self._sorted_keys, key)
        hi = bisect.bisect_left(self._sorted_keys, key + "\uffff")
        return np.unique(self._sorted_owner[lo:hi])

    def _tokens(self, key: str) -> np.ndarray:
        found = [self._token_posts.get(t) for t in set(key.split())]
        posts = [p for p in found if p is not None]
        if not posts or len(posts) < len(found):  # a word no title has
            return np.empty(0, dtype=np.int64)
        posts.sort(key=len)
        out = posts[0]
        for p in posts[1:]:
            out = np.intersect1d(out, p, assume_unique=True)
            if not len(out):
                break
        return out

    def _fuzzy(self, key: str) -> dict[int, float]:
        qg = _trigrams(key)
        posts = [self._gram_posts[g] for g in qg if g in self._gram_posts]
        if not posts:
            return {}
        shared = np.bincount(np.concatenate(posts), minlength=len(self._keys))
        dice = 2.0 * shared / (len(qg) + self._key_ngrams)
        pool = min(FUZZY_POOL, int((shared > 0).sum()))
        top = np.argpartition(-dice, pool - 1)[:pool]
        out: dict[int, float] = {}
        numbers = {t for t in key.split() if t.isdigit()}
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(key)
        for k in top.tolist():
            matcher.set_seq1(self._keys[k])
            # A sequel number the title lacks is a different film ("toy story 4").
            missing = len(numbers - set(self._keys[k].split()))
            r = matcher.ratio() - NUMBER_PENALTY * missing
            owner = int(self._key_owner[k])
            if r > out.get(owner, -1.0):
                out[owner] = r
        return out

    def _score(
        self, text: str, year: int | None, allowed: np.ndarray | None, need: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(movie indices, tiers, fuzzy ratios) matching one reading of a query.

        Fuzzy matching, the slow part, runs only when the better tiers found
        fewer than `need` movies: it could not reach the top otherwise.
        """
        full, bare = _query_forms(text)
        if not full:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=np.float64)
        parts = [(self._exact_text(text), EXACT)]
        parts += [(self._prefix(key), PREFIX) for key in dict.fromkeys((full, bare))]
        parts.append((self._tokens(bare), TOKENS))
        idx = np.concatenate([p for p, _ in parts])
        tier = np.concatenate([np.full(len(p), t, dtype=np.int64) for p, t in parts])
        ratio = np.where(tier == EXACT, 1.0, 0.0)
        if allowed is not None:
            keep = allowed[idx]
            idx, tier, ratio = idx[keep], tier[keep], ratio[keep]
        if len(np.unique(idx)) < need:
            fuzzy = self._fuzzy(full)
            if bare != full:
                for i, r in self._fuzzy(bare).items():
                    fuzzy[i] = max(r, fuzzy.get(i, 0.0))
            f_idx = np.array([i for i, r in fuzzy.items() if r >= FUZZY_MIN_RATIO], np.int64)
            if allowed is not None:
                f_idx = f_idx[allowed[f_idx]]
            idx = np.concatenate([idx, f_idx])
            tier = np.concatenate([tier, np.full(len(f_idx), FUZZY, dtype=np.int64)])
            ratio = np.concatenate([ratio, [fuzzy[i] for i in f_idx.tolist()]])
        return idx, tier, ratio

    def search(self, query: str, k: int = 10, allowed: np.ndarray | None = None) -> list[TitleHit]:
        """Best `k` matches for a free-text title query, best first."""
        idx_l, tier_l, ym_l, ratio_l = [], [], [], []
        for text, year, _ in _interpretations(query):
            idx, tier, ratio = self._score(text, year, allowed, k)
            ym = np.zeros(len(idx), dtype=np.int64)
            if year is not None:
                ym = np.where(self.years[idx] == year, 1, -1)
            idx_l.append(idx)
            tier_l.append(tier)
            ym_l.append(ym)
            ratio_l.append(ratio)
        idx, tier = np.concatenate(idx_l), np.concatenate(tier_l)
        ym, ratio = np.concatenate(ym_l), np.concatenate(ratio_l)
        if not len(idx):
            return []
        # Ratio only orders fuzzy hits; other tiers fall back on popularity.
        fuzzy_ratio = np.where(tier == FUZZY, np.round(ratio, 3), 0.0)
        order = np.lexsort((idx, -self.popularity[idx], -fuzzy_ratio, -ym, -tier))
        _, first = np.unique(idx[order], return_index=True)  # best reading per movie
        best = order[np.sort(first)][:k]
        return [
            TitleHit(int(idx[j]), int(tier[j]), int(ym[j]), float(ratio[j])) for j in best.tolist()
        ]

    def resolve(self, query: str, n_candidates: int = 5) -> Resolution:
        """One movie for a title query, or the candidates to choose from.

        An exact title match is taken when unique (a year in the query picks
        among remakes); otherwise a prefix or word match when it is the only
        one, or a fuzzy match clearly better than the runner-up.
        """
        wrong_year: np.ndarray | None = None
        for text, year, _explicit in _interpretations(query):
            exact = self._exact_text(text)
            if not len(exact):
                continue
            if year is not None:
                ys = self.years[exact]
                same = exact[ys == year]
                if not len(same):
                    same = exact[(ys >= 0) & (np.abs(ys - year) <= 1)]
                if len(same):
                    return self._pick(same, n_candidates)
                wrong_year = exact if wrong_year is None else wrong_year
                continue
            return self._pick(exact, n_candidates)
        if wrong_year is not None:
            return Resolution("ambiguous", None, self._by_popularity(wrong_year)[:n_candidates])
        ranked = self.search(query, k=max(n_candidates, 10))
        if not ranked:
            return Resolution("not_found", None, ())
        best = ranked[0]
        candidates = tuple(h.index for h in ranked[:n_candidates])
        if best.tier in (PREFIX, TOKENS):
            same_tier = [h for h in ranked if h.tier == best.tier]
            if best.year_match > 0:
                same_tier = [h for h in same_tier if h.year_match > 0]
            if len(same_tier) == 1:
                return Resolution("found", best.index, candidates)
            return Resolution("ambiguous", None, candidates)
        runner_up = ranked[1].ratio if len(ranked) > 1 else 0.0
        if best.ratio >= FUZZY_ACCEPT and best.ratio - runner_up >= FUZZY_MARGIN:
            return Resolution("found", best.index, candidates)
        return Resolution("ambiguous", None, candidates)

    def closest(self, query: str, n: int = 5, min_ratio: float = 0.3) -> list[int]:
        """The `n` most similar titles by spelling alone, for "did you mean" messages."""
        scores: dict[int, float] = {}
        for text, _, _ in _interpretations(query):
            for form in dict.fromkeys(_query_forms(text)):
                if form:
                    for i, r in self._fuzzy(form).items():
                        scores[i] = max(r, scores.get(i, 0.0))
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], -int(self.popularity[kv[0]])))
        return [i for i, r in ranked[:n] if r >= min_ratio]

    def exact(self, query: str) -> np.ndarray:
        """Movies whose title (ignoring any year in the query) matches the query exactly."""
        found = [self._exact_text(text) for text, _, _ in _interpretations(query)]
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)

    def _by_popularity(self, indices: np.ndarray) -> tuple[int, ...]:
        order = np.lexsort((indices, -self.popularity[indices]))
        return tuple(int(i) for i in indices[order])

    def _pick(self, indices: np.ndarray, n_candidates: int) -> Resolution:
        if len(indices) == 1:
            return Resolution("found", int(indices[0]), (int(indices[0]),))
        return Resolution("ambiguous", None, self._by_popularity(indices)[:n_candidates])


def _is_missing(value: SupportsInt | None) -> bool:
    """None, NaN, pandas NA or a negative placeholder: no usable year."""
    if value is None:
        return True
    try:
        return bool(value != value) or int(value) < 0  # NaN != NaN
    except (TypeError, ValueError):  # pandas NA refuses bool()
        return True
