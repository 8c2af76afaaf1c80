"""How answers explain themselves: the reason beside each movie, in one short sentence.

A reason says what really put the movie there (`recsys.ranking.requests.Reason`):
"Because you liked X" only for a co-like link that passes the criterion of
`recsys.ranking.colikes` (lift at least 1.5 with at least 5 co-likers in the
training ratings, X never the movie itself); otherwise the score term or the
similarity part that drove the pick.
"""

from __future__ import annotations

from collections.abc import Sequence

from recsys.ranking.requests import Reason


def names(items: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def either(items: Sequence[str]) -> str:
    """'A', 'A or B', 'A, B or C'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _also(genres: Sequence[str]) -> str:
    return f"; also {names(genres)}." if genres else "."


def liked_reason(reason: Reason, title: str, matched: Sequence[str]) -> str:
    """The sentence for a co-like link to a liked movie."""
    return (
        f"Because you liked {title}: people who liked it like this {reason.lift:.1f}x as "
        f"often as average ({reason.co_likers} liked both)" + _also(matched)
    )


def preference_reason(
    reason: Reason,
    liked_title: str | None,
    matched: Sequence[str],
    n_ratings: int,
    who: str | None,
) -> str:
    """A stated-preference pick's reason; `matched` are the stated genres it carries, `who`
    the demographics used, if any."""
    if reason.term == "liked" and liked_title is not None:
        return liked_reason(reason, liked_title, matched)
    what = names(matched) if matched else "your"
    if reason.term == "lpop":
        return f"One of the most-rated {what} movies ({n_ratings} ratings)."
    if reason.term == "gfrac" and matched:
        return f"Carries {len(matched)} of your genres ({names(matched)})."
    people = f"People like you ({who})" if who else "People"
    if reason.term == "zt":
        return (
            f"{people} who state your genres and like movies such as yours rate it highly "
            "(no single liked movie is a strong enough link)."
        )
    return f"{people} who state {what} taste rate it highly."


def similar_reason(reason: Reason, anchor_title: str, shared: Sequence[str]) -> str:
    """A similar movie's reason; `shared` are the genres it shares with the anchor."""
    both = f"; both {names(shared)}." if shared else "."
    if reason.term == "liked":
        return (
            f"People who liked {anchor_title} like this {reason.lift:.1f}x as often as "
            f"average ({reason.co_likers} liked both)" + both
        )
    if reason.term == "content":
        return f"Like {anchor_title} in genres, era and style, though few people rated both" + both
    return f"Often rated by the same people as {anchor_title}, and alike in genres and era" + both


def known_user_reason(
    reason: Reason | None, liked_title: str | None, matched: Sequence[str]
) -> str:
    """A known person's pick: a co-like link to one of their likes, else their favourite
    genres it carries, else their taste as the model reads it."""
    if reason is not None and liked_title is not None:
        return liked_reason(reason, liked_title, matched)
    if matched:
        return f"Matches your favourite genres: {names(matched)}."
    return "Close to your overall taste in the model's embedding space."


NO_PREFERENCES_NOTE = (
    "No usable preferences were given, so these are generally popular picks; "
    "add genres or liked movies for personal ones."
)
