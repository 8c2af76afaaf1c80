"""Training examples: each step, a user's history is split into what the tower reads and what
it must rank.

Half the time the past predicts the future, half at random, sometimes
thinned to one to three movies like a person naming favourites. A share of
examples (and, with `cold_extra`, one more per user and epoch) describe the
user as a new one would be described: demographics and the genres they would
state, nothing else; most extra ones also name a few of the user's likes, as a
person does when asking for recommendations. So the towers are trained for the
cold start they serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from recsys.features.queries import Demographics, UserQuery
from recsys.features.space import FeatureSpace
from recsys.training.config import ExampleConfig


@dataclass(frozen=True)
class Example:
    query: UserQuery
    targets: np.ndarray  # dense movie indices
    target_w: np.ndarray
    masked: np.ndarray  # movies excluded from the softmax (the input history)


def make_example(
    fs: FeatureSpace, u: int, rng: np.random.Generator, cfg: ExampleConfig, cold: bool = False
) -> Example | None:
    # The draws happen in this order (the margins measured for the recipe depend on the
    # random stream): the named-likes chance first, only for extra new-user examples.
    if cold and cfg.cold_named > 0 and rng.random() < cfg.cold_named:
        named = _named_likes_example(fs, u, rng, cfg)
        if named is not None:
            return named
    return _example(fs, u, rng, cfg, cold)


def _named_likes_example(
    fs: FeatureSpace, u: int, rng: np.random.Generator, cfg: ExampleConfig
) -> Example | None:
    """A new user who names 1..cold_named_max of their likes (the earliest, or a random
    few in time order) besides stated genres and demographics; the other likes are the
    targets. None (and no draw) when the user has fewer than two likes."""
    items, ratings = fs.history(u)
    liked = items[ratings >= fs.like_threshold]
    most = min(cfg.cold_named_max, len(liked) - 1)
    if most < 1:
        return None
    n = int(rng.integers(1, most + 1))
    if rng.random() < cfg.cold_named_earliest:
        given = liked[:n]
    else:
        given = liked[np.sort(rng.choice(len(liked), size=n, replace=False))]
    known = fs.demographics(u)
    demo: Demographics = {
        "gender": _kept(known["gender"], rng, cfg),
        "age": _kept(known["age"], rng, cfg),
        "occupation": _kept(known["occupation"], rng, cfg),
    }
    stated = _some(fs.stated_genres(liked), rng, cfg)
    targets = np.setdiff1d(liked, given)
    return Example(
        # No ratings: every named movie weighs as liked, as a preference query builds them.
        UserQuery(**demo, stated_genres=stated, history=tuple(int(i) for i in given)),
        targets,
        _stated_genre_weights(fs, targets, stated, cfg.cold_offgenre_weight),
        given.astype(np.int64),
    )


def _example(
    fs: FeatureSpace, u: int, rng: np.random.Generator, cfg: ExampleConfig, cold: bool
) -> Example | None:
    items, ratings = fs.history(u)
    n = len(items)
    if n == 0:
        return None
    liked = ratings >= fs.like_threshold
    # People state some demographics and not others: drop each field now and then.
    known = fs.demographics(u)
    demo: Demographics = {
        "gender": _kept(known["gender"], rng, cfg),
        "age": _kept(known["age"], rng, cfg),
        "occupation": _kept(known["occupation"], rng, cfg),
    }
    if cold or n < 2 or rng.random() < cfg.cold_rate:
        # A new user: demographics and the genres they would state, nothing else.
        sel = liked if liked.any() else np.ones(n, bool)
        tgt = items[sel]
        cold_stated = _some(fs.stated_genres(items[liked] if liked.any() else items), rng, cfg)
        return Example(
            UserQuery(**demo, stated_genres=cold_stated),
            tgt,
            _stated_genre_weights(fs, tgt, cold_stated, cfg.cold_offgenre_weight),
            np.zeros(0, np.int64),
        )
    if rng.random() < cfg.temporal_share:
        cut = int(rng.integers(max(1, n // 2), n))  # the past predicts the future
        inp = np.zeros(n, bool)
        inp[:cut] = True
    else:
        keep = rng.uniform(0.2, 0.9)
        inp = rng.random(n) < keep
        if inp.all() or not inp.any():
            inp[rng.integers(n)] = not inp.all()
    # Thin some histories to a handful of movies, like a person naming a few favourites.
    if rng.random() < 0.15 and inp.sum() > 3:
        idx = np.flatnonzero(inp)
        inp[:] = False
        inp[rng.choice(idx, size=int(rng.integers(1, 4)), replace=False)] = True
    h_items, h_ratings = items[inp], ratings[inp]
    t_items, t_ratings = items[~inp], ratings[~inp]
    stated: tuple[str, ...] = ()
    if rng.random() >= cfg.stated_drop:
        stated = _some(fs.stated_genres_of(h_items, h_ratings), rng, cfg)
    w = np.where(t_ratings >= fs.like_threshold, 1.0, cfg.disliked_target_weight)
    return Example(
        UserQuery(
            **demo,
            stated_genres=stated,
            history=tuple(h_items.tolist()),
            history_ratings=tuple(h_ratings.tolist()),
        ),
        t_items,
        w.astype(np.float32),
        h_items,
    )


T = TypeVar("T")  # one demographic field's type


def _kept(value: T, rng: np.random.Generator, cfg: ExampleConfig) -> T | None:
    """`value`, or None with the chance `cfg.demographic_drop` (one draw from `rng`)."""
    return None if rng.random() < cfg.demographic_drop else value


def _stated_genre_weights(
    fs: FeatureSpace, targets: np.ndarray, stated: tuple[str, ...], off_genre: float
) -> np.ndarray:
    """1 for targets in a stated genre, `off_genre` for the rest (all 1 when it is 1)."""
    if off_genre == 1.0 or not stated:
        return np.ones(len(targets), np.float32)
    cols = [fs.genres.index(g) for g in stated]
    in_stated = fs.movie_genres[targets][:, cols].max(axis=1) > 0
    return np.where(in_stated, 1.0, off_genre).astype(np.float32)


def _some(genres: tuple[str, ...], rng: np.random.Generator, cfg: ExampleConfig) -> tuple[str, ...]:
    """A random non-empty subset: people name one, two or three genres."""
    if len(genres) <= 1 or rng.random() < cfg.stated_full:
        return genres
    k = int(rng.integers(1, len(genres) + 1))
    keep = np.sort(rng.choice(len(genres), size=k, replace=False))
    return tuple(genres[i] for i in keep)
