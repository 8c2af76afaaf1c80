"""How the trained part and the item-item part of the model join into one vector each.

Vm = [trained part x, item-item part Q_m, norm coordinate], unit length, so
the score is still one dot product that Annoy serves. A user's vector weighs
each part after dividing it by the spread of its scores over the catalogue,
so it ranks movies like share * z(trained score) + (1 - share) * z(item-item
score). `similarity_directions` gave movie-to-movie similarity its own mix before #13.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.features.encoding import QueryBatch
from recsys.model.config import ModelConfig
from recsys.model.itemitem import recency_weights
from recsys.model.vectors import bag_sum, unit_rows, with_norm_coordinate


@dataclass(frozen=True)
class ItemBlend:
    """The item-item part's shape and the weights it joins the trained part with."""

    tower_dim: int  # length of the trained part, without the norm coordinate
    rank: int
    tau: float  # recency of likes, see recsys.model.itemitem.recency_weights
    floor: float
    share: float  # weight of the trained part, in (0, 1]

    @classmethod
    def of(cls, config: ModelConfig) -> ItemBlend | None:
        if config.item_rank <= 0:
            return None
        return cls(
            tower_dim=config.raw_dim,
            rank=config.item_rank,
            tau=config.item_tau,
            floor=config.item_floor,
            share=config.item_share,
        )


def join_movies(tower_movies: np.ndarray, item_output: np.ndarray) -> np.ndarray:
    """Vm with both parts: the trained tower's (unit, norm coordinate last) and Q's rows.

    Q is scaled so that its mean row length over the movies it covers matches
    the trained part's. A user's vector undoes any scale of either part, but
    Annoy's trees split where the vectors spread: with the item-item part at a
    quarter of the length, the served top 6 of a user of the shipped model
    (user 414, k = 6, where Annoy answers) held only 3 of the exact top 6, so
    both parts get equal room.
    """
    x = tower_movies[:, :-1]
    covered = np.abs(item_output).sum(axis=1) > 0
    q = np.asarray(item_output, dtype=np.float32)
    if covered.any():
        q_len = float(np.linalg.norm(q[covered], axis=1).mean())
        q = q * (float(np.linalg.norm(x, axis=1).mean()) / max(q_len, 1e-12))
    return with_norm_coordinate(np.concatenate([x, q], axis=1).astype(np.float32))


# Similar movies before issue #13 (now ranked by recsys.ranking.similar, kept here for
# comparisons in bench/): how much the item-item part counts, as a length relative to the
# trained part's. At 1 (the index's own balance) same-era hits
# crowded in (Toy Story: Eraser, Broken Arrow, Down Periscope; The Godfather:
# Stigmata); at 0.25 the lists keep the trained space's sense and gain what
# co-liking adds (Toy Story: Toy Story 2, The Mask, Babe, A Bug's Life; The
# Godfather: Part II, Cuckoo's Nest, Goodfellas), judged by reading the lists.
SIMILARITY_ITEM_WEIGHT = 0.25


def similarity_directions(movie_embeddings: np.ndarray, blend: ItemBlend) -> np.ndarray:
    """Unit vectors for movie-to-movie similarity: [x, w q] without the norm coordinate."""
    d, r = blend.tower_dim, blend.rank
    x = movie_embeddings[:, :d]
    q = movie_embeddings[:, d : d + r] * np.float32(SIMILARITY_ITEM_WEIGHT)
    return unit_rows(np.concatenate([x, q], axis=1)).astype(np.float32)


def tower_part(movie_embeddings: np.ndarray, blend: ItemBlend | None) -> np.ndarray:
    """The trained tower's own Vm (what its history pooling reads) from the joined Vm."""
    if blend is None:
        return movie_embeddings
    return with_norm_coordinate(np.asarray(movie_embeddings[:, : blend.tower_dim], np.float32))


def block_spreads(movie_embeddings: np.ndarray, blend: ItemBlend) -> tuple[np.ndarray, np.ndarray]:
    """Covariances over the catalogue of the trained and the item-item part of Vm."""
    d, r = blend.tower_dim, blend.rank
    out = []
    for block in (movie_embeddings[:, :d], movie_embeddings[:, d : d + r]):
        centred = block.astype(np.float64) - block.mean(axis=0, dtype=np.float64)
        out.append(centred.T @ centred / max(len(block), 1))
    return out[0], out[1]


def item_part(item_input: np.ndarray, batch: QueryBatch, blend: ItemBlend) -> np.ndarray:
    """(b, rank): each query's liked history, recent likes weighing more, pooled through P."""
    items, offsets = batch.hist_items, batch.hist_offsets
    counts = np.diff(np.append(offsets, len(items))).astype(np.float32)
    weights = recency_weights(batch, blend.tau, blend.floor)
    return bag_sum(item_input, items, weights, offsets, counts)


def join_users(
    tower_users: np.ndarray,
    pooled: np.ndarray,
    spreads: tuple[np.ndarray, np.ndarray],
    share: float,
) -> np.ndarray:
    """Vu with both parts, [share * u / sd(u), (1 - share) * v / sd(v), 0], unit length.

    sd is the standard deviation of the part's scores over the catalogue. A
    user with no liked history has no item-item part and keeps the trained
    tower's direction alone.
    """
    u = tower_users[:, :-1].astype(np.float64)
    v = pooled.astype(np.float64)
    sd_u = np.sqrt(np.maximum(np.einsum("bi,ij,bj->b", u, spreads[0], u), 0.0))
    sd_v = np.sqrt(np.maximum(np.einsum("bi,ij,bj->b", v, spreads[1], v), 0.0))
    has_items = sd_v > 1e-12
    a = np.where(has_items, share, 1.0) / np.maximum(sd_u, 1e-12)
    b = np.where(has_items, (1.0 - share) / np.maximum(sd_v, 1e-12), 0.0)
    out = np.concatenate([u * a[:, None], v * b[:, None], np.zeros((len(u), 1))], axis=1)
    return unit_rows(out).astype(np.float32)
