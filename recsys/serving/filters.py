"""Filters applied before the cut to k, and the note that says why a list came up short."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys.serving.catalogue import Catalogue
from recsys.serving.errors import InvalidArgumentError
from recsys.serving.inputs import is_int


@dataclass(frozen=True)
class Filters:
    """Restrictions applied before the cut to k.

    A movie passes when it has ANY of `genres` (if given), NONE of
    `exclude_genres`, a known year inside [year_min, year_max] (if either is
    given), and its id is not in `exclude_movie_ids`. A word naming two genres
    ("rom-com") counts as one genre that needs both (Romance and Comedy).
    """

    genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    exclude_movie_ids: frozenset[int] = frozenset()


NO_FILTERS = Filters()


@dataclass(frozen=True)
class FilterPlan:
    mask: np.ndarray | None  # movies passing every filter; None = no filter
    parts: tuple[tuple[str, np.ndarray], ...] = field(default=())  # (description, mask)


def plan(filters: Filters, catalogue: Catalogue) -> FilterPlan:
    """Each filter as a described mask over the catalogue, checked for contradictions."""
    if not isinstance(filters, Filters):
        raise InvalidArgumentError("filters must be a recsys.serving.filters.Filters")
    for name in ("year_min", "year_max"):
        value = getattr(filters, name)
        if value is not None and not is_int(value):
            raise InvalidArgumentError(f"{name} must be an integer year, got {value!r}")
    lo, hi = filters.year_min, filters.year_max
    if lo is not None and hi is not None and lo > hi:
        raise InvalidArgumentError(
            f"year_min ({lo}) is after year_max ({hi}); swap them, or drop one to leave that "
            "end open."
        )
    parts: list[tuple[str, np.ndarray]] = []
    if filters.genres:
        groups = catalogue.genre_groups(filters.genres, argument="genres")
        parts.append(
            (f"genres {' or '.join(map(group_name, groups))}", catalogue.group_mask(groups))
        )
    if filters.exclude_genres:
        groups = catalogue.genre_groups(filters.exclude_genres, argument="exclude_genres")
        names = " and ".join(map(group_name, groups))
        parts.append((f"excluding {names}", ~catalogue.group_mask(groups)))
    if lo is not None or hi is not None:
        years = catalogue.years
        ok = years >= 0
        if lo is not None:
            ok &= years >= lo
        if hi is not None:
            ok &= years <= hi
        if lo is not None and hi is not None:
            span = f"years {lo}-{hi}"
        else:
            span = f"year from {lo}" if lo is not None else f"year up to {hi}"
        parts.append((span, ok))
    if filters.exclude_movie_ids:
        drop = [catalogue.index_of(int(m)) for m in filters.exclude_movie_ids]
        ok = np.ones(len(catalogue), dtype=bool)
        ok[[i for i in drop if i is not None]] = False
        parts.append((f"{len(filters.exclude_movie_ids)} excluded movie ids", ok))
    if not parts:
        return FilterPlan(None)
    return FilterPlan(np.logical_and.reduce([m for _, m in parts]), tuple(parts))


def group_name(group: tuple[str, ...]) -> str:
    """'Sci-Fi', or 'Romance+Comedy' for a group whose genres are all required."""
    return "+".join(group)


def shortfall_note(got: int, k: int, plan: FilterPlan, base: np.ndarray, excluded_why: str) -> str:
    """Why only `got` of `k` movies came back: the catalogue, the exclusions or which filter."""
    if not plan.parts:
        if base.all():
            return f"The catalogue holds only {got} movies."
        return f"Only {got} movies are left after excluding {excluded_why}."
    empty = [desc for desc, m in plan.parts if not (m & base).any()]
    all_desc = "; ".join(desc for desc, _ in plan.parts)
    if got == 0 and empty:
        return (
            f"No movie passes the filters: {'; '.join(empty)} matches no "
            "candidate movie. Remove or widen that filter."
        )
    if got == 0:
        return (
            f"No movie passes all filters together ({all_desc}); each matches some "
            "movies alone. Remove or widen one of them."
        )
    return (
        f"Only {got} of the {k} requested movies pass the filters ({all_desc}). "
        "Widen or remove a filter for more."
    )
