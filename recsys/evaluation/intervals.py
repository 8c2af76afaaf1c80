"""Paired bootstrap intervals: is one method's per-user metric above another's on the same users?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """Mean of a - b over users, with its bootstrap interval."""

    diff: float
    low: float
    high: float
    users: int

    def as_dict(self) -> dict[str, float | int]:
        return {"diff": self.diff, "low": self.low, "high": self.high, "users": self.users}


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL
) -> Interval:
    """Resample users with replacement (`resamples` times); the percentile interval of the
    mean difference. Users where either value is NaN are left out."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need one value per user each: {a.shape} vs {b.shape}")
    d = (a - b)[~(np.isnan(a) | np.isnan(b))]
    if len(d) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    # In chunks, so a large user set never needs resamples x users indices at once.
    chunk = max(1, 2_000_000 // len(d))
    for s in range(0, resamples, chunk):
        rows = min(chunk, resamples - s)
        means[s : s + rows] = d[rng.integers(0, len(d), size=(rows, len(d)))].mean(1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(d.mean()), float(low), float(high), int(len(d)))
