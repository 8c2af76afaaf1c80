"""Co-occurrence counts over the training ratings, the like index, and co-like lifts.

lift(X -> Y) = co-likers(X, Y) * users / (likers(X) * likers(Y)): how much more
often than average a person who liked X also liked Y. Counts come from the
training ratings, a like being a rating at the like threshold or above.

`co_counts` counts, for a block of anchor movies, the users they share with
every movie from sparse rows (movie -> users, user -> movies), a chunk of
users at a time: memory O(block x movies), so it scales to 87k-movie
catalogues without a dense users x movies matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.features.space import FeatureSpace
from recsys.model.artifacts import Likes

# "Because you liked X" needs this lift with at least this many co-likers (DESIGN A.2).
LIFT_MIN, CO_LIKERS_MIN = 1.5, 5
# Above this many likes the exact movie -> users rows (4 bytes a like) give way to each
# movie's qualifying partners: ML-25M's 12.5M likes would take 50 MB.
EXACT_LIKES_MAX = 4_000_000
PARTNERS = 200  # partners kept per movie in the partner form, best lift first
# (anchor, user, movie) triples expanded per chunk in co_counts: about 100 MB of indices.
PAIRS_PER_CHUNK = 1 << 22


@dataclass(frozen=True)
class Rows:
    """Sparse rows: row r holds indices[indptr[r]:indptr[r + 1]]."""

    indptr: np.ndarray  # int64 (n_rows + 1,)
    indices: np.ndarray  # int64

    def expand(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in `rows`, index) for every entry of the given rows."""
        starts = self.indptr[rows]
        lens = self.indptr[rows + 1] - starts
        total = int(lens.sum())
        owner = np.repeat(np.arange(len(rows)), lens)
        offsets = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens) + starts[owner]
        return owner, self.indices[offsets]


def rating_rows(fs: FeatureSpace, liked_only: bool) -> tuple[Rows, Rows]:
    """(movie -> users, user -> movies) over the training ratings, or over the likes only;
    users ascending within a movie's row."""
    users = np.repeat(np.arange(fs.n_users), np.diff(fs.user_indptr))
    items = fs.user_items
    if liked_only:
        keep = fs.user_ratings >= fs.like_threshold
        users, items = users[keep], items[keep]
    by_user = Rows(_indptr(users, fs.n_users), items.astype(np.int64))
    order = np.argsort(items, kind="stable")
    by_movie = Rows(_indptr(items[order], fs.n_movies), users[order].astype(np.int64))
    return by_movie, by_user


def _indptr(sorted_rows: np.ndarray, n_rows: int) -> np.ndarray:
    counts = np.bincount(sorted_rows, minlength=n_rows)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def co_counts(anchors: np.ndarray, by_movie: Rows, by_user: Rows, n_movies: int) -> np.ndarray:
    """float32 (len(anchors), n_movies): users each anchor shares with each movie (itself too)."""
    out = np.zeros(len(anchors) * n_movies, dtype=np.float32)
    owner, users = by_movie.expand(np.asarray(anchors, dtype=np.int64))
    lens = by_user.indptr[users + 1] - by_user.indptr[users]
    ends = np.cumsum(lens)
    lo = 0
    while lo < len(users):
        done = int(ends[lo - 1]) if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, done + PAIRS_PER_CHUNK, side="right")))
        pos, movies = by_user.expand(users[lo:hi])
        flat = owner[lo:hi][pos] * n_movies + movies
        out += np.bincount(flat, minlength=len(out)).astype(np.float32)
        lo = hi
    return out.reshape(len(anchors), n_movies)


def build_likes(fs: FeatureSpace, exact_max: int = EXACT_LIKES_MAX) -> Likes:
    """The like index of `fs`' training ratings: exact rows, or partners when there are more
    than `exact_max` likes."""
    by_movie, by_user = rating_rows(fs, liked_only=True)
    likers = np.diff(by_movie.indptr).astype(np.int32)
    rated = np.diff(fs.user_indptr) > 0
    n_users = int(rated.sum())
    if len(by_movie.indices) <= exact_max:
        # Users numbered among those who rated (the population lifts count over).
        compact = np.cumsum(rated) - 1
        return Likes(
            n_users=n_users,
            likers=likers,
            indptr=by_movie.indptr,
            users=compact[by_movie.indices].astype(np.int32),
            partners=np.zeros((fs.n_movies, 0), np.int32),
            partner_likes=np.zeros((fs.n_movies, 0), np.int32),
        )
    partners, co = _partners(by_movie, by_user, likers, n_users, fs.n_movies)
    return Likes(
        n_users=n_users,
        likers=likers,
        indptr=np.zeros(fs.n_movies + 1, np.int64),
        users=np.zeros(0, np.int32),
        partners=partners,
        partner_likes=co,
    )


def _partners(
    by_movie: Rows, by_user: Rows, likers: np.ndarray, n_users: int, n_movies: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each movie's partners passing the reason criterion, best lift first (at most PARTNERS)."""
    partners = np.full((n_movies, PARTNERS), -1, np.int32)
    co_out = np.zeros((n_movies, PARTNERS), np.int32)
    block = max(1, min(1024, (1 << 23) // max(n_movies, 1)))
    liked = np.flatnonzero(likers >= CO_LIKERS_MIN)
    for lo in range(0, len(liked), block):
        rows = liked[lo : lo + block]
        co = co_counts(rows, by_movie, by_user, n_movies)
        co[np.arange(len(rows)), rows] = 0
        lift = (
            co * n_users / np.maximum(likers[rows][:, None] * likers[None, :].astype(np.float64), 1)
        )
        lift[(co < CO_LIKERS_MIN) | (lift < LIFT_MIN)] = 0
        top = np.argsort(-lift, axis=1, kind="stable")[:, :PARTNERS]
        keep = np.take_along_axis(lift, top, 1) > 0
        partners[rows, : top.shape[1]] = np.where(keep, top, -1)
        co_out[rows, : top.shape[1]] = np.where(keep, np.take_along_axis(co, top, 1), 0)
    return partners, co_out


def co_likers(likes: Likes, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """int64 (len(xs), len(ys)): users who liked both x and y (0 where the partner form does
    not know the pair, which then does not pass the criterion)."""
    xs = np.asarray(xs, dtype=np.int64)
    ys = np.asarray(ys, dtype=np.int64)
    out = np.zeros((len(xs), len(ys)), dtype=np.int64)
    if not len(xs) or not len(ys):
        return out
    if not likes.exact:
        for r, x in enumerate(xs.tolist()):
            for c, y in enumerate(ys.tolist()):
                out[r, c] = _partner_count(likes, x, y)
        return out
    rows = Rows(likes.indptr, likes.users.astype(np.int64))
    fans = np.zeros((max(likes.n_users, 1), len(ys)), dtype=bool)
    owner, users = rows.expand(ys)
    fans[users, owner] = True
    # A block of liked movies at a time: their likers x the picks stay under PAIRS_PER_CHUNK.
    sizes = likes.likers[xs].astype(np.int64) * len(ys)
    lo = 0
    while lo < len(xs):
        hi = lo + max(1, int(np.searchsorted(np.cumsum(sizes[lo:]), PAIRS_PER_CHUNK, "right")))
        owner, users = rows.expand(xs[lo:hi])
        if len(users):
            # Segments are contiguous per liked movie: sum each non-empty one.
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            sums = np.add.reduceat(fans[users].astype(np.int64), starts, axis=0)
            out[lo + owner[starts]] = sums
        lo = hi
    return out


def _partner_count(likes: Likes, x: int, y: int) -> int:
    for a, b in ((x, y), (y, x)):  # lift is symmetric: either row may hold the pair
        hit = np.flatnonzero(likes.partners[a] == b)
        if len(hit):
            return int(likes.partner_likes[a, hit[0]])
    return 0


def lifts(likes: Likes, xs: np.ndarray, ys: np.ndarray, co: np.ndarray) -> np.ndarray:
    """float64 (len(xs), len(ys)): lift(x -> y) from the co-likers `co`."""
    den = likes.likers[np.asarray(xs, np.int64)][:, None].astype(np.float64) * likes.likers[
        np.asarray(ys, np.int64)
    ][None, :].astype(np.float64)
    out: np.ndarray = np.where(den > 0, co * likes.n_users / np.maximum(den, 1.0), 0.0)
    return out


def best_links(
    likes: Likes, liked: np.ndarray, picks: np.ndarray
) -> list[tuple[int, float, int] | None]:
    """Per pick, (liked movie, lift, co-likers) of the liked movie (never the pick itself)
    with the highest lift to it among those passing the criterion (lift >= LIFT_MIN,
    co-likers >= CO_LIKERS_MIN); None where none passes. Ties go to the movie given first."""
    xs = np.asarray(liked, dtype=np.int64)
    ys = np.asarray(picks, dtype=np.int64)
    if not len(xs) or not len(ys):
        return [None] * len(ys)
    co = co_likers(likes, xs, ys)
    lift = lifts(likes, xs, ys, co)
    ok = (co >= CO_LIKERS_MIN) & (lift >= LIFT_MIN) & (xs[:, None] != ys[None, :])
    best = np.argmax(np.where(ok, lift, -np.inf), axis=0)
    return [
        (int(xs[b]), float(lift[b, c]), int(co[b, c])) if ok[b, c] else None
        for c, b in enumerate(best.tolist())
    ]
