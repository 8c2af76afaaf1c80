"""Picking k movies down a score order under caps, and the stated-genre coverage swap.

Caps: at most `head_max` of the most-liked movies (with liked movies given),
at most `franchise_max` of one franchise unless the request names it, and at
most `outside_max` outside the stated genres (the liked-movies exception).
The franchise and outside caps are part of honouring the request, so they
hold even when the list comes up short; the head cap is about variety, so
skipped head movies fill a list that would otherwise come up short.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FRANCHISE_MAX = 3  # of one franchise per list, unless the request names it


@dataclass(frozen=True)
class Caps:
    franchise: np.ndarray  # int32 (n_movies,): franchise group, -1 for none
    exempt: frozenset[int] = frozenset()  # groups the request names: no cap
    franchise_max: int = FRANCHISE_MAX
    head: np.ndarray | None = None  # bool (n_movies,): the most-liked movies; None: no cap
    head_max: int = 0
    outside: np.ndarray | None = None  # bool (n_movies,): outside the stated genres; None: no cap
    outside_max: int = 0


@dataclass
class _Counts:
    """What a list holds so far, against its caps."""

    caps: Caps
    head: int = 0
    outside: int = 0
    groups: dict[int, int] = field(default_factory=dict)

    def head_full(self, j: int) -> bool:
        head = self.caps.head
        return head is not None and bool(head[j]) and self.head >= self.caps.head_max

    def blocked(self, j: int) -> bool:
        """Would taking j break the franchise or the outside cap?"""
        c = self.caps
        if c.outside is not None and c.outside[j] and self.outside >= c.outside_max:
            return True
        g = int(c.franchise[j])
        return g >= 0 and g not in c.exempt and self.groups.get(g, 0) >= c.franchise_max

    def take(self, j: int) -> None:
        c = self.caps
        self.head += int(c.head is not None and bool(c.head[j]))
        self.outside += int(c.outside is not None and bool(c.outside[j]))
        g = int(c.franchise[j])
        if g >= 0:
            self.groups[g] = self.groups.get(g, 0) + 1


def score_order(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The allowed movies, best score first (ties: lower index first)."""
    idx = np.flatnonzero(allowed & np.isfinite(scores))
    return idx[np.argsort(-scores[idx], kind="stable")]


def capped_top(scores: np.ndarray, allowed: np.ndarray, k: int, caps: Caps) -> list[int]:
    """The best k allowed movies that keep every cap, best first."""
    counts = _Counts(caps)
    picks: list[int] = []
    skipped_head: list[int] = []
    for j in score_order(scores, allowed).tolist():
        if counts.blocked(j):
            continue
        if counts.head_full(j):
            skipped_head.append(j)
            continue
        counts.take(j)
        picks.append(j)
        if len(picks) == k:
            return picks
    for j in skipped_head:  # the list would come up short: the head cap gives way
        if not counts.blocked(j):
            counts.take(j)
            picks.append(j)
            if len(picks) == k:
                break
    return sorted(picks, key=lambda j: (-scores[j], j))


def with_coverage(
    picks: list[int],
    scores: np.ndarray,
    allowed: np.ndarray,
    groups: Sequence[np.ndarray],
    k: int,
    caps: Caps,
) -> list[int]:
    """With two or more stated genre groups (bool masks), each holds at least
    k // (2 * #groups) of the picks when it can: its best-scored missing movies replace the
    lowest-ranked picks that no other group needs for its own minimum, caps kept."""
    if len(groups) < 2:
        return picks
    need = k // (2 * len(groups))
    picks = list(picks)
    for mask in groups:
        have = sum(bool(mask[j]) for j in picks)
        if have >= need:
            continue
        for j in score_order(scores, allowed & mask).tolist():
            if have >= need:
                break
            if j in picks:
                continue
            # A most-liked movie joining a list at its head cap must replace another.
            full = caps.head is not None and caps.head[j] and _heads(picks, caps) >= caps.head_max
            out = _removable(picks, mask, groups, need, caps.head if full else None)
            if out is not None and _keeps_caps([p for p in picks if p != out] + [j], caps):
                picks.remove(out)
                picks.append(j)
                have += 1
        picks.sort(key=lambda j: (-scores[j], j))
    return picks


def _removable(
    picks: list[int],
    mask: np.ndarray,
    groups: Sequence[np.ndarray],
    need: int,
    among: np.ndarray | None = None,
) -> int | None:
    """The lowest-ranked pick outside `mask` (and inside `among`, if given) whose removal
    keeps every group at its minimum."""
    for x in reversed(picks):
        if mask[x] or (among is not None and not among[x]):
            continue
        if all(
            not other[x] or sum(bool(other[y]) for y in picks if y != x) >= need
            for other in groups
            if other is not mask
        ):
            return x
    return None


def _heads(picks: list[int], caps: Caps) -> int:
    return 0 if caps.head is None else int(caps.head[picks].sum())


def _keeps_caps(picks: list[int], caps: Caps) -> bool:
    counts = _Counts(caps)
    for j in picks:
        if counts.blocked(j):
            return False
        counts.take(j)
    return caps.head is None or counts.head <= caps.head_max or not caps.head[picks[-1]]
