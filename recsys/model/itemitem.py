"""The item-item part of the towers: co-liked movies, fitted in closed form.

The trained towers read features and learn from a softmax; on a temporal
split of ml-latest-small they rank below EASE, a closed-form item-item model
over co-liked movies (NDCG@10 0.113 against 0.128). No rank-128 tower we
trained closed that gap, so the towers get a part that is not trained by
gradient descent: EASE's weight matrix B over the most-liked movies,
factorised to rank r as B ~ P Q^T by a randomised SVD. A movie's part of Vm
is its row of Q (zero for a movie outside those fitted, so new movies rely
on the trained tower alone), and a user's part of Vu is their liked history
pooled through P, recent likes weighing more. `recsys.model.blend` joins the two
parts into one vector each, so the score is still one dot product that Annoy
serves.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from recsys.features.encoding import QueryBatch
from recsys.features.space import FeatureSpace

log = logging.getLogger(__name__)

# Randomised SVD: extra sampled directions and power iterations. With these,
# the top singular values of ml-latest-small's B come out within 1% of an
# exact SVD, in about a second.
OVERSAMPLE = 16
POWER_ITERATIONS = 3
USERS_PER_BLOCK = 8192  # rows of the binary user x movie matrix built at a time


def fit_factors(
    fs: FeatureSpace, rank: int, movies: int, lam: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(P, Q), float32 (n_movies, rank): B ~ P Q^T for EASE on the liked ratings in `fs`.

    Only the `movies` most-liked movies take part (the solve costs their
    number cubed: 0.6 s for 2,000, 8.6 s for 5,332); the rest get zero rows.
    On ml-latest-small's temporal split (rank 128, recent likes weighing more),
    keeping 5,332 / 4,000 / 3,000 / 2,000 liked movies gave NDCG@10 0.132 /
    0.129 / 0.131 / 0.132: the tail adds nothing the head does not carry.
    """
    if rank <= 0 or movies <= 0 or lam <= 0:
        raise ValueError(
            f"the item-item part needs a positive rank, movie count and λ; "
            f"got rank={rank}, movies={movies}, λ={lam}"
        )
    t0 = time.perf_counter()
    liked = fs.user_ratings >= fs.like_threshold
    items = fs.user_items[liked]
    users = np.repeat(np.arange(fs.n_users), np.diff(fs.user_indptr))[liked]
    counts = np.bincount(items, minlength=fs.n_movies)
    order = np.argsort(-counts, kind="stable")
    active = np.sort(order[: min(movies, int((counts > 0).sum()))])
    p = np.zeros((fs.n_movies, rank), dtype=np.float32)
    q = np.zeros((fs.n_movies, rank), dtype=np.float32)
    if len(active) < 2:
        return p, q
    pos = np.full(fs.n_movies, -1, dtype=np.int64)
    pos[active] = np.arange(len(active))
    inside = pos[items] >= 0
    b = ease_matrix(gram(users[inside], pos[items[inside]], fs.n_users, len(active)), lam)
    u, s, v = _randomised_svd(b, min(rank, len(active)), seed)
    root = np.sqrt(s)
    p[active, : len(s)] = u * root
    q[active, : len(s)] = v * root
    log.info(
        "item-item part: EASE λ=%g over %d movies, rank %d, in %.1f s",
        lam,
        len(active),
        len(s),
        time.perf_counter() - t0,
    )
    return p, q


def gram(
    users: np.ndarray,
    cols: np.ndarray,
    n_users: int,
    n_cols: int,
    dtype: type[np.floating] = np.float32,
) -> np.ndarray:
    """X^T X of the binary (users x cols) matrix of the given (user, col) pairs, a block of
    users at a time: ML-25M's 162,000 users x 2,000 movies would take 1.3 GB at once. The
    counts are whole numbers, exact in float32 below 2^24 and in float64."""
    out = np.zeros((n_cols, n_cols), dtype=dtype)
    order = np.argsort(users, kind="stable")
    users, cols = users[order], cols[order]
    for lo in range(0, n_users, USERS_PER_BLOCK):
        a, b = np.searchsorted(users, [lo, lo + USERS_PER_BLOCK])
        if a == b:
            continue
        x = np.zeros((min(USERS_PER_BLOCK, n_users - lo), n_cols), dtype=dtype)
        x[users[a:b] - lo, cols[a:b]] = 1.0
        out += x.T @ x
    return out


def ease_matrix(g: np.ndarray, lam: float) -> np.ndarray:
    """EASE's B = I - P / diag(P), P = (G + λI)^-1, with a zero diagonal, in the
    Gram matrix's own precision (the EASE baseline passes float64).

    The towers' part passes float32: the Gram matrix counts co-likes, exact in
    float32 below 2^24, the inverse takes half the time, and λ >= 1 keeps
    G + λI well conditioned.
    """
    if lam <= 0:
        raise ValueError(f"EASE's λ must be positive, got {lam}")
    dtype = g.dtype
    inv = np.linalg.inv(g + dtype.type(lam) * np.eye(len(g), dtype=dtype))
    b: np.ndarray = -inv / np.diag(inv)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def _randomised_svd(
    b: np.ndarray, rank: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U, s, V) of B's top `rank` singular triplets (Halko, Martinsson and Tropp)."""
    rng = np.random.default_rng(seed)
    width = min(len(b), rank + OVERSAMPLE)
    y = b @ rng.standard_normal((len(b), width))
    for _ in range(POWER_ITERATIONS):
        y, _ = np.linalg.qr(y)
        y = b @ (b.T @ y)
    basis, _ = np.linalg.qr(y)
    uu, s, vt = np.linalg.svd(basis.T @ b, full_matrices=False)
    return basis @ uu[:, :rank], s[:rank], vt[:rank].T


def recency_weights(batch: QueryBatch, tau: float, floor: float) -> np.ndarray:
    """Per history entry, its weight in the user's item-item part.

    Disliked movies weigh 0. In a known user's (time-ordered) history, a liked
    movie followed by k later likes weighs floor + exp(-k / tau); tau = 0
    weighs every like alike. Stated liked movies carry no time, so they all
    weigh alike.
    """
    items, offsets = batch.hist_items, batch.hist_offsets
    liked = (batch.hist_weights >= 1.0).astype(np.float64)
    if tau <= 0 or len(items) == 0:
        return liked.astype(np.float32)
    counts = np.diff(np.append(offsets, len(items)))
    seg = np.repeat(np.arange(len(offsets)), counts)
    # Likes at or after each entry within its segment, minus itself when liked.
    from_end = np.cumsum(liked[::-1])[::-1]
    seg_end = np.append(from_end, 0.0)[offsets + counts][seg]
    later = from_end - seg_end - liked
    timed = batch.hist_timed[seg]
    w = np.where(timed, floor + np.exp(-later / tau), 1.0 + floor)
    return (liked * w).astype(np.float32)
