"""Unit vectors and the norm coordinate: the two vector tricks every part of the model shares."""

from __future__ import annotations

from types import ModuleType
from typing import Any, TypeVar, overload

import numpy as np

# with_norm_coordinate's torch.Tensor, named generically: serving never imports torch.
T = TypeVar("T")

# M, the length every movie vector is divided by, sits this factor above the
# longest raw vector (5%, squared): the square root's gradient stays finite.
NORM_MARGIN = 1.1025


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row divided by its length, in x's own precision (zero rows stay zero)."""
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


@overload
def with_norm_coordinate(x: np.ndarray) -> np.ndarray: ...
@overload
def with_norm_coordinate(x: T, xp: ModuleType) -> T: ...
def with_norm_coordinate(x: Any, xp: ModuleType = np) -> Any:
    """Unit vectors [x, sqrt(M^2 - |x|^2)] / M, M a little above the largest |x|.

    For a user vector [u, 0], cos = u.x / (|u| M): within one catalogue the
    cosine ranks movies exactly as the raw dot product does, so Annoy's angular
    metric serves it and a movie's length can say how broadly it is liked.
    `xp` is numpy (serving, joining the parts) or torch (training, where M is
    held constant so the gradient does not flow through the maximum).
    """
    sq = (x * x).sum(1)
    top = sq.max()
    if hasattr(top, "detach"):
        top = top.detach()
    m2 = top * NORM_MARGIN + 1e-12
    last = xp.sqrt(xp.clip(m2 - sq, 1e-12, None))
    return xp.concatenate([x, last[:, None]], axis=1) / xp.sqrt(m2)


def bag_sum(
    table: np.ndarray,
    items: np.ndarray,
    weights: np.ndarray,
    offsets: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """Per query, the weighted sum of its items' rows (torch's EmbeddingBag, mode="sum")."""
    n_rows = table.shape[0]
    if len(items) > n_rows:
        # Big batches (all known users at load): one (queries x movies) weight
        # matrix and a BLAS product beat gathering a row per history entry.
        rows = np.repeat(np.arange(len(offsets)), counts.astype(np.int64))
        dense = np.bincount(rows * n_rows + items, weights, minlength=len(offsets) * n_rows)
        summed: np.ndarray = dense.reshape(len(offsets), n_rows).astype(np.float32) @ table
        return summed
    out = np.zeros((len(offsets), table.shape[1]), dtype=np.float32)
    full = counts > 0
    if full.any():
        # Segments of the non-empty queries are contiguous in `items`, in order.
        out[full] = np.add.reduceat(table[items] * weights[:, None], offsets[full], axis=0)
    return out
