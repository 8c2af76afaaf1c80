"""Scores as chances: the fitted calibrations applied to a ranked list, and reliability tables.

Each calibration (`recsys.model.artifacts`) is a logistic model of "the person
likes this movie", fitted per trained model on that training's validation
users (`recsys.training.calibrate`). A list's chances are made non-increasing
down the list: a later pick may carry a term that lifts its estimate (a
most-liked movie, say), but the list's order is the recommendation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.model.artifacts import KnownUserCalibration, ScoreCalibration, SimilarityCalibration

# Reliability bins: predicted chance in [edge_i, edge_i+1).
EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))
    return out


def down_the_list(chance: np.ndarray) -> np.ndarray:
    """Each chance capped by those above it (a list's chances never rise going down)."""
    out: np.ndarray = np.minimum.accumulate(np.asarray(chance, dtype=np.float64))
    return out


def rank_term(n: int) -> np.ndarray:
    """log1p(rank - 1) for ranks 1..n."""
    out: np.ndarray = np.log1p(np.arange(n, dtype=np.float64))
    return out


def preference_logits(
    c: ScoreCalibration, scores: np.ndarray, n_liked: int, head: np.ndarray
) -> np.ndarray:
    out: np.ndarray = (
        c.bias
        + c.score * np.asarray(scores, dtype=np.float64)
        + c.n_liked * np.log1p(n_liked)
        + c.rank * rank_term(len(scores))
        + c.head * np.asarray(head, dtype=np.float64)
    )
    return out


def preference_chance(
    c: ScoreCalibration, scores: np.ndarray, n_liked: int, head: np.ndarray
) -> np.ndarray:
    """P(the person likes each pick) for a preference list, best first."""
    return down_the_list(sigmoid(preference_logits(c, scores, n_liked, head)))


def similarity_logits(c: SimilarityCalibration, blend: np.ndarray, ratings: int) -> np.ndarray:
    support = np.log1p(max(ratings, 0))
    slope = np.exp(c.slope_bias + c.slope_support * support)
    out: np.ndarray = (
        c.bias
        + c.support * support
        + c.inverse_root / np.sqrt(1.0 + max(ratings, 0))
        + slope * np.asarray(blend, dtype=np.float64)
    )
    return out


def similarity_chance(c: SimilarityCalibration, blend: np.ndarray, ratings: int) -> np.ndarray:
    """P(a person who liked the anchor likes each neighbour); the anchor has `ratings`."""
    return down_the_list(sigmoid(similarity_logits(c, blend, ratings)))


def known_user_logits(
    c: KnownUserCalibration, z: np.ndarray, history: int, ranks: np.ndarray | None = None
) -> np.ndarray:
    """`ranks` (1-based, the movie's place in the person's own list) default to 1..n."""
    rank = rank_term(len(z)) if ranks is None else np.log1p(np.asarray(ranks, np.float64) - 1)
    out: np.ndarray = (
        c.bias
        + c.z * np.asarray(z, dtype=np.float64)
        + c.rank * rank
        + c.history * np.log1p(max(history, 0))
    )
    return out


def known_user_chance(c: KnownUserCalibration, z: np.ndarray, history: int) -> np.ndarray:
    """P(a known user likes each pick), from each pick's score standardised over the
    catalogue for that user; `history` is the user's number of ratings."""
    return down_the_list(sigmoid(known_user_logits(c, z, history)))


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    predicted: float  # mean predicted chance
    observed: float  # share that was liked


@dataclass(frozen=True)
class Reliability:
    ece: float  # expected calibration error: count-weighted |predicted - observed|
    rows: int
    bins: tuple[Bin, ...]


def reliability(
    predicted: np.ndarray, liked: np.ndarray, edges: tuple[float, ...] = EDGES
) -> Reliability:
    """How well predicted chances match what happened, by bins of the prediction."""
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(liked, dtype=np.float64)
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (p >= lo) & ((p < hi) | (hi >= edges[-1]))
        if m.any():
            bins.append(Bin(lo, hi, int(m.sum()), float(p[m].mean()), float(y[m].mean())))
    ece = sum(b.count * abs(b.predicted - b.observed) for b in bins) / max(len(p), 1)
    return Reliability(float(ece), len(p), tuple(bins))
