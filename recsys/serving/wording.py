"""How answers explain themselves: the reason beside each movie, in one short sentence."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A recommendation is explained by the nearest liked movie when it is at least this close.
REASON_MIN_COSINE = 0.3


def names(items: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def nearest(
    directions: np.ndarray, targets: np.ndarray, anchors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each target movie, the closest anchor movie (index into anchors) and its cosine."""
    sims = np.einsum(  # einsum: no BLAS threads
        "id,jd->ij", directions[targets], directions[anchors]
    )
    best = sims.argmax(axis=1)
    return best, sims[np.arange(len(targets)), best]


def taste_reasons(
    picks: np.ndarray,
    liked: np.ndarray,
    genres: Sequence[str],
    movie_genres: Sequence[tuple[str, ...]],
    titles: Sequence[str],
    directions: np.ndarray,
    phrases: tuple[str, str, str],
) -> list[str]:
    """Explain each pick by its nearest liked movie, else by the genres it matches.

    `phrases`: (liked phrase with {title}, genre phrase with {genres}, fallback).
    """
    liked_phrase, genre_phrase, fallback = phrases
    near: np.ndarray | None = None
    near_cos = np.zeros(0)
    if len(liked) and len(picks):
        near, near_cos = nearest(directions, picks, liked)
    wanted = set(genres)
    reasons = []
    for r, i in enumerate(picks.tolist()):
        matched = [g for g in movie_genres[i] if g in wanted]
        if near is not None and (near_cos[r] >= REASON_MIN_COSINE or not matched):
            title = titles[int(liked[near[r]])]
            reason = liked_phrase.format(title=title)
            reasons.append(reason + (f"; also {names(matched)}." if matched else "."))
        elif matched:
            reasons.append(genre_phrase.format(genres=names(matched)) + ".")
        else:
            reasons.append(fallback)
    return reasons


def similar_reasons(
    picks: np.ndarray,
    anchor_title: str,
    anchor_genres: Sequence[str],
    movie_genres: Sequence[tuple[str, ...]],
) -> list[str]:
    shared_with = set(anchor_genres)
    reasons = []
    for i in picks.tolist():
        shared = [g for g in movie_genres[i] if g in shared_with]
        reason = f"Close to {anchor_title} in the model's embedding space"
        reasons.append(reason + (f"; both {names(shared)}." if shared else "."))
    return reasons


KNOWN_USER_PHRASES = (
    "Because you liked {title}",
    "Matches your favourite genres: {genres}",
    "Close to your overall taste in the model's embedding space.",
)


def preference_phrases(who: str | None) -> tuple[str, str, str]:
    """The phrases for a stated taste; `who` names the demographics used, if any."""
    fallback = (
        f"Popular with viewers like you ({who})."
        if who
        else "A broadly popular pick for the taste you described."
    )
    return ("Close to {title}, which you liked", "Matches your genres: {genres}", fallback)


NO_PREFERENCES_NOTE = (
    "No usable preferences were given, so these are generally popular picks; "
    "add genres or liked movies for personal ones."
)
