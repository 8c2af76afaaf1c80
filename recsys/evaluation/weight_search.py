"""The validation search that chooses the preference score's weights and head caps
(`recsys.ranking.weights`), reproducibly.

For each number of liked movies N in {0, 1, 3, 5}: score = a z0 + 1.5 zt + b gfrac
+ c lpop over a grid of (a, b, c), and for N >= 1 a head cap H (at most H of the
10 picks among the most-liked movies). Users are a training's own cold
validation users, described by their stated genres and demographics and, for
N >= 1, their N earliest likes (those with 6 or more likes); the stated genres
filter (ANY-of) and the named movies are never listed. The pick has the best
mean validation NDCG@10 over the datasets, among the settings whose validation
F-tail NDCG is at least EASE fold-in's on every dataset (each dataset's number
the mean over its training seeds); ties go to the first in grid order.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from recsys.evaluation.baselines import Ease
from recsys.evaluation.measure import user_metrics
from recsys.evaluation.splits import EvalUser
from recsys.model.query_model import QueryModel
from recsys.ranking.facts import CatalogueFacts
from recsys.ranking.selection import Caps, capped_top
from recsys.ranking.terms import preference_terms
from recsys.ranking.weights import TERMS
from recsys.training.validation import Validation

LIKED_SIZES = (0, 1, 3, 5)
MIN_LIKES = 6
Z0 = (0.0, 0.3, 0.6, 1.0, 1.5, 2.5)
GFRAC = (0.4, 0.7, 1.0, 1.5)
LPOP = (0.3, 0.6, 0.9, 1.3, 1.8, 2.5)
ZT = 1.5  # fixed: the other weights are relative to it
HEAD_CAPS = (9, 8, 7)
K = 10


@dataclass(frozen=True)
class Users:
    """One dataset's validation users for one training seed and one N, ready to rank."""

    terms: np.ndarray  # float32 (users, movies, 4), `weights.TERMS` order
    allowed: np.ndarray  # bool (users, movies): in a stated genre, not named
    relevant: tuple[np.ndarray, ...]  # their other likes (dense indices)
    tail: tuple[np.ndarray, ...]  # those outside the head
    head: np.ndarray  # bool (movies,): the most-liked training movies
    ease_tail: float  # EASE fold-in's mean F-tail NDCG@10 on them (N >= 1; else 0)


@dataclass(frozen=True)
class Setting:
    weights: tuple[float, float, float, float]  # z0, zt, gfrac, lpop
    head_cap: int | None


def grid(n_liked: int) -> list[Setting]:
    """Every setting tried for N liked movies, in search order (head cap outermost)."""
    caps: Sequence[int | None] = HEAD_CAPS if n_liked else (None,)
    return [
        Setting((a, ZT, b, c), h) for h in caps for a, b, c in itertools.product(Z0, GFRAC, LPOP)
    ]


def lists(users: Users, setting: Setting) -> np.ndarray:
    """Each user's top 10 under the setting (the head cap only with liked movies)."""
    scores = users.terms @ np.asarray(setting.weights, dtype=np.float32)
    none = np.full(scores.shape[1], -1, dtype=np.int32)
    caps = Caps(
        franchise=none,
        head=users.head if setting.head_cap is not None else None,
        head_max=setting.head_cap or 0,
    )
    out = np.full((len(scores), K), -1, dtype=np.int64)
    for r in range(len(scores)):
        picks = capped_top(scores[r].astype(np.float64), users.allowed[r], K, caps)
        out[r, : len(picks)] = picks
    return out


def mean_ndcg(top: np.ndarray, relevant: Sequence[np.ndarray]) -> float:
    """Mean NDCG@10 over the users with at least one relevant movie."""
    rows = [r for r, rel in enumerate(relevant) if len(rel)]
    if not rows:
        return 0.0
    return float(user_metrics(top[rows], [relevant[r] for r in rows])[f"ndcg@{K}"].mean())


def validate(users: Sequence[Users], setting: Setting) -> tuple[float, float, float]:
    """(NDCG, F-tail NDCG, EASE's F-tail NDCG), each the mean over `users` (the seeds)."""
    rows = []
    for u in users:
        top = lists(u, setting)
        rows.append((mean_ndcg(top, u.relevant), mean_ndcg(top, u.tail), u.ease_tail))
    ndcg, tail, ease = np.mean(rows, axis=0).tolist()
    return float(ndcg), float(tail), float(ease)


@dataclass(frozen=True)
class Choice:
    n_liked: int
    setting: Setting
    validation: dict[str, tuple[float, float, float]]  # dataset -> validate(...)
    tail_constraint_met: bool


def choose(
    data: Mapping[str, Mapping[int, Sequence[Users]]], sizes: Sequence[int] = LIKED_SIZES
) -> list[Choice]:
    """data[dataset][N] = that dataset's Users, one per training seed. One choice per N,
    for every dataset at once."""
    out = []
    for n in sizes:
        best: tuple[tuple[bool, float], Setting, dict[str, tuple[float, float, float]]] | None
        best = None
        for setting in grid(n):
            val = {name: validate(by_n[n], setting) for name, by_n in data.items()}
            feasible = all(v[1] >= v[2] for v in val.values()) if n else True
            key = (feasible, float(np.mean([v[0] for v in val.values()])))
            if best is None or key > best[0]:
                best = (key, setting, val)
        assert best is not None
        out.append(Choice(n, best[1], best[2], best[0][0]))
    return out


def prepare(
    facts: CatalogueFacts,
    stated: Sequence[tuple[str, ...]],
    liked: Sequence[np.ndarray],
    trained: tuple[np.ndarray, np.ndarray | None],
    named: int,
    ease: np.ndarray | None,
) -> Users:
    """Users from their stated genres, their likes in time order (dense indices) and the
    trained scores without (trained[0]) and with the first `named` likes (trained[1]);
    `ease` is EASE fold-in's scores over the named movies (None for N = 0)."""
    n_movies = facts.n_movies
    terms = np.zeros((len(stated), n_movies, len(TERMS)), dtype=np.float32)
    allowed = np.zeros((len(stated), n_movies), dtype=bool)
    relevant, tail = [], []
    ease_top = np.full((len(stated), K), -1, dtype=np.int64)
    for r, (genres, likes) in enumerate(zip(stated, liked, strict=True)):
        given = np.asarray(likes[:named], dtype=np.int64)
        with_liked = trained[1][r] if trained[1] is not None and named else None
        terms[r] = preference_terms(facts, trained[0][r], with_liked, tuple(genres))
        allowed[r] = facts.group_mask([(g,) for g in genres])
        allowed[r, given] = False
        rest = np.unique(np.asarray(likes[named:], dtype=np.int64))
        relevant.append(rest)
        tail.append(rest[~facts.head[rest]])
        if ease is not None:
            s = ease[r].astype(np.float64).copy()
            s[given] = -np.inf
            ease_top[r] = np.argsort(-s, kind="stable")[:K]
    ease_tail = mean_ndcg(ease_top, tail) if ease is not None else 0.0
    return Users(terms, allowed, tuple(relevant), tuple(tail), facts.head.copy(), ease_tail)


def from_validation(
    model: QueryModel,
    facts: CatalogueFacts,
    validation: Validation,
    ease: Ease,
    sizes: Sequence[int] = LIKED_SIZES,
) -> dict[int, Users]:
    """A training's cold validation users, ranked by its validation network `model` (the
    early-stopped state, trained without them), per N; EASE fold-in fitted without them."""
    c = validation.n_cold
    queries, liked = validation.queries[:c], validation.relevant[:c]
    ids = np.asarray(model.features.movie_ids, dtype=np.int64)
    out = {}
    for n in sizes:
        rows = [r for r in range(c) if n == 0 or len(liked[r]) >= MIN_LIKES]
        base = [replace(queries[r], history=(), history_ratings=()) for r in rows]
        named = [
            replace(q, history=tuple(int(i) for i in liked[r][:n]))
            for q, r in zip(base, rows, strict=True)
        ]
        trained = (
            model.trained_scores(base),
            model.trained_scores(named) if n else None,
        )
        folded = None
        if n:
            users = [EvalUser(-1, False, (), liked=tuple(ids[liked[r][:n]].tolist())) for r in rows]
            folded = ease.score(users)
        stated = [queries[r].stated_genres for r in rows]
        out[n] = prepare(facts, stated, [liked[r] for r in rows], trained, n, folded)
    return out
