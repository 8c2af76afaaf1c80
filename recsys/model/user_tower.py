"""The user tower's forward pass in numpy: answering queries does not need torch.

`recsys.model.towers` trains the towers with torch. A saved model also carries
the user tower's weights as plain arrays (`user_tower.npz`), and this module
runs the same forward pass with numpy, so the MCP server starts without
importing torch (about 1.5 s of its start-up on our machines) and uses less
memory. A test checks that both passes give the same vectors.
"""

from __future__ import annotations

import numpy as np

from recsys.features.encoding import QueryBatch
from recsys.model.vectors import bag_sum, unit_rows

# The state-dict prefix of the user tower inside the two-tower network.
USER_TOWER_PREFIX = "user_tower."
# The user tower's copy of the item-item input factors P (see recsys.model.itemitem).
ITEM_INPUT = "item_input"
# The state-dict entries the forward pass reads.
REQUIRED = (
    "gender.weight",
    "age.weight",
    "occupation.weight",
    "stated.weight",
    "taste.weight",
    "history.weight",
    "dense.weight",
    "dense.bias",
    "out.2.weight",
    "out.2.bias",
)


def user_tower_arrays(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The user tower's entries of a (numpy) state dict, keys without the prefix."""
    return {
        k[len(USER_TOWER_PREFIX) :]: v for k, v in state.items() if k.startswith(USER_TOWER_PREFIX)
    }


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz & Stegun 7.1.26), below float32 rounding of GELU."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf: np.ndarray = sign * (1.0 - poly * np.exp(-a * a))
    return erf


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def recent_segments(
    offsets: np.ndarray, n_items: int, r: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask of the last `r` entries, their counts, their offsets) of a flat history batch:
    the recent part as a batch of its own, for torch and numpy alike."""
    counts = np.diff(np.append(offsets, n_items))
    ends = np.repeat(offsets + counts, counts)
    keep = np.arange(n_items) >= ends - r
    kept = np.minimum(counts, r)
    return keep, kept, (np.cumsum(kept) - kept).astype(np.int64)


def embed_users(
    w: dict[str, np.ndarray], q: QueryBatch, movie_emb: np.ndarray, recent: int
) -> np.ndarray:
    """`recsys.model.towers.UserTower.forward` in numpy (inference: dropout is off)."""
    items, offsets, weights = q.hist_items, q.hist_offsets, q.hist_weights
    counts = np.diff(np.append(offsets, len(items))).astype(np.float32)
    pooled_in = bag_sum(w["history.weight"], items, weights, offsets, counts)
    pooled_in /= np.sqrt(np.maximum(counts, 1.0))[:, None]
    pooled_mv = bag_sum(movie_emb, items, weights, offsets, counts)
    pooled_mv /= np.maximum(counts, 1.0)[:, None]
    x = np.concatenate(
        [
            w["gender.weight"][q.gender],
            w["age.weight"][q.age],
            w["occupation.weight"][q.occupation],
            q.stated @ w["stated.weight"].T,
            q.taste @ w["taste.weight"].T,
            pooled_mv,
            (counts > 0).astype(np.float32)[:, None],
        ],
        axis=1,
    )
    h = x @ w["dense.weight"].T + w["dense.bias"] + pooled_in
    if recent > 0:
        keep, r_counts, r_offsets = recent_segments(offsets, len(items), recent)
        pooled_recent = bag_sum(
            w["history.weight"], items[keep], weights[keep], r_offsets, r_counts
        )
        pooled_recent /= np.sqrt(np.maximum(r_counts, 1.0)).astype(np.float32)[:, None]
        h = h + pooled_recent @ w["recent_mix.weight"].T
    out = _gelu(h) @ w["out.2.weight"].T + w["out.2.bias"]
    return unit_rows(np.pad(out, ((0, 0), (0, 1)))).astype(np.float32)
