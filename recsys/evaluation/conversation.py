"""Protocol F, the conversation: protocol C's held-out users who also name a few liked movies.

Each held-out user of a C split with at least `MIN_LIKES` likes is described as
in C (stated genres, demographics where the dataset has them) plus their N
earliest likes (ties in time broken by movie id), for every N of `F_SIZES` over
one user set. Relevant = their other likes; the named ones are excluded from the
ranking, so they never count.

F-tail scores the same lists only on the likes outside the `HEAD` most-liked
training movies (users without such a like are left out), where popularity scores
about nothing: it shows whether the named movies personalise the list.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.evaluation.splits import EvalSplit
from recsys.features.taste import like_threshold

F_SIZES = (1, 3, 5)
MIN_LIKES = 6  # the largest N named and at least one like left to find, for every N
HEAD = 100


@dataclass(frozen=True)
class Conversation:
    """Protocol F for one N: the split (users, relevant, exclude = the named movies) and
    each user's relevant movies outside the head."""

    n_liked: int
    split: EvalSplit
    tail: tuple[np.ndarray, ...]

    @property
    def label(self) -> str:
        return f"F{self.n_liked}"

    @property
    def tail_label(self) -> str:
        return f"F{self.n_liked}-tail"

    @property
    def tail_users(self) -> np.ndarray:
        """Rows of the users F-tail scores: those with a like outside the head."""
        return np.flatnonzero([len(t) > 0 for t in self.tail]).astype(np.int64)


def head_movies(train: Dataset, size: int = HEAD) -> np.ndarray:
    """Dense indices of the `size` most-liked training movies (ties to the lower index)."""
    r = train.ratings
    liked = r[r["rating"] >= like_threshold(train.rating_scale)]
    catalogue = pd.Index(train.movies["movie_id"].to_numpy(dtype=np.int64))
    idx = catalogue.get_indexer(liked["movie_id"].to_numpy(dtype=np.int64))
    counts = np.bincount(idx[idx >= 0], minlength=len(catalogue))
    head: np.ndarray = np.argsort(-counts, kind="stable")[:size].astype(np.int64)
    return head


def liked_in_order(cold: EvalSplit) -> dict[int, np.ndarray]:
    """user id -> the movie ids they liked, earliest first, ties in time by movie id."""
    t = cold.test_ratings
    liked = t[t["rating"] >= like_threshold(cold.train.rating_scale)]
    order = np.lexsort(
        (liked["movie_id"].to_numpy(), liked["timestamp"].to_numpy(), liked["user_id"].to_numpy())
    )
    users = liked["user_id"].to_numpy(dtype=np.int64)[order]
    movies = liked["movie_id"].to_numpy(dtype=np.int64)[order]
    out: dict[int, np.ndarray] = {}
    for uid in np.unique(users):
        lo, hi = np.searchsorted(users, [uid, uid + 1])
        out[int(uid)] = pd.unique(movies[lo:hi])
    return out


def conversation_splits(
    cold: EvalSplit,
    sizes: tuple[int, ...] = F_SIZES,
    min_likes: int = MIN_LIKES,
    head: int = HEAD,
) -> tuple[Conversation, ...]:
    """Protocol F for each N of `sizes`, from a protocol C split."""
    if cold.protocol != "C":
        raise ValueError(f"protocol F is built from a protocol C split, got {cold.protocol!r}")
    if sizes and max(sizes) >= min_likes:
        raise ValueError(f"every N must leave a like to find: N < {min_likes}, got {sizes}")
    catalogue = pd.Index(cold.catalogue)
    is_head = np.zeros(len(catalogue), dtype=bool)
    is_head[head_movies(cold.train, head)] = True
    by_user = liked_in_order(cold)
    chosen = [u for u in cold.users if len(by_user.get(u.user_id, ())) >= min_likes]
    out = []
    for n in sizes:
        users, relevant, exclude, tail = [], [], [], []
        for u in chosen:
            likes = by_user[u.user_id]
            named = catalogue.get_indexer(likes[:n]).astype(np.int64)
            rest = np.unique(catalogue.get_indexer(likes[n:])).astype(np.int64)
            users.append(replace(u, liked=tuple(int(m) for m in likes[:n])))
            relevant.append(rest)
            exclude.append(np.sort(named))
            tail.append(rest[~is_head[rest]])
        split = replace(
            cold,
            protocol=f"F{n}",
            users=tuple(users),
            relevant=tuple(relevant),
            exclude=tuple(exclude),
            skipped_users=len(cold.users) - len(users) + cold.skipped_users,
        )
        out.append(Conversation(n, split, tuple(tail)))
    return tuple(out)


def without_liked(split: EvalSplit) -> EvalSplit:
    """The same users, relevant and exclusions, described without their liked movies."""
    return replace(split, users=tuple(replace(u, liked=()) for u in split.users))
