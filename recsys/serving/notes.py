"""The notes a stated-preference answer carries: when the list widened, came up short, or when
what the person said is not something the model filters by."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recsys.serving.filters import FilterPlan, group_name
from recsys.serving.wording import names

CHILD_AGE = 13  # below this, an age suggests a list for a child
CHILD_GENRES = frozenset({"Children", "Animation"})


def exception_note(stated: Sequence[tuple[str, ...]], admitted: Sequence[str], k: int) -> str:
    return (
        f"Most of the movies you liked carry none of {names([group_name(g) for g in stated])}, "
        f"so the list also admits their genres ({names(admitted)}): at most {k // 2} of the "
        f"{k} picks lie outside the genres you stated."
    )


def child_note(age: int | None, genres: Sequence[str]) -> str | None:
    """Ages are not used to filter: say so for a child's age without a children's genre."""
    if age is None or age >= CHILD_AGE or CHILD_GENRES & set(genres):
        return None
    return "Ages are not used to filter; for a child, add the Children or Animation genre."


def with_stated_genres(
    restrict: FilterPlan, stated: Sequence[tuple[str, ...]], mask: np.ndarray
) -> FilterPlan:
    """The request's filters with its stated genres (`mask`) as the first, for shortfall
    notes, which name the filter that empties a list."""
    if not stated:
        return restrict
    described = (f"genres {' or '.join(map(group_name, stated))}", mask)
    both = mask if restrict.mask is None else mask & restrict.mask
    return FilterPlan(both, (described, *restrict.parts))
