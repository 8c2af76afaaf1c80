"""The terms of the preference score over the whole catalogue, one request at a time."""

from __future__ import annotations

import numpy as np

from recsys.ranking.facts import CatalogueFacts


def standardise(scores: np.ndarray) -> np.ndarray:
    """Each row minus its mean over the catalogue, over its standard deviation (float64; a flat
    row gives zeros)."""
    s = np.asarray(scores, dtype=np.float64)
    mean = s.mean(axis=-1, keepdims=True)
    sd = s.std(axis=-1, keepdims=True)
    out: np.ndarray = np.where(sd > 1e-12, (s - mean) / np.maximum(sd, 1e-12), 0.0)
    return out


def preference_terms(
    facts: CatalogueFacts,
    without_liked: np.ndarray,
    with_liked: np.ndarray | None,
    stated: tuple[str, ...],
) -> np.ndarray:
    """(n_movies, 4) float64 in `weights.TERMS` order: z0 = z(trained scores for the stated
    genres and demographics), zt = z(the same with the liked movies as history; z0 without
    any), gfrac = the share of the stated genres a movie carries, lpop its popularity."""
    z0 = standardise(without_liked)
    zt = z0 if with_liked is None else standardise(with_liked)
    gfrac = np.zeros(facts.n_movies)
    if stated:
        gfrac = facts.genre_matrix[:, facts.columns(stated)].sum(axis=1) / len(stated)
    return np.stack([z0, zt, gfrac, facts.lpop], axis=-1)
