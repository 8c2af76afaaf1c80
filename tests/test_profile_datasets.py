"""A profile made against one dataset, read by a server whose bundle comes from another.

The second dataset numbers its movies differently (as ML-100K and ml-latest do), so a
profile's ids mean other films there. The server reads the profile by title and year, says
which entries it could not map, never reads the wrong film, refuses to add to it, and moves
it onto its own dataset through export and import.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import wire_ok as call
from conftest import wire_text as text

from recsys.data.dataset import Dataset
from recsys.data.synthetic import (
    HEAT_1986,
    HEAT_1995,
    MATRIX,
    MISERABLES,
    TOY_STORY,
    UNDATED,
    synthetic_dataset,
)
from server.launch import wire_session

pytestmark = pytest.mark.slow  # trains a second bundle and starts server processes

OFFSET = 1000  # the other dataset's ids: 1000 + (91 - id), so no id means the same film


def renumbered(dataset: Dataset) -> Dataset:
    """The same kind of data under other movie ids, in the reverse order."""
    new = {int(m): OFFSET + 91 - int(m) for m in dataset.movies["movie_id"]}
    movies = dataset.movies.assign(movie_id=dataset.movies["movie_id"].map(new))
    ratings = dataset.ratings.assign(movie_id=dataset.ratings["movie_id"].map(new))
    return replace(dataset, name="other", movies=movies, ratings=ratings)


def other_id(movie_id: int) -> int:
    return OFFSET + 91 - movie_id


@pytest.fixture(scope="module")
def other_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from conftest import _bundle, _fit

    dataset = renumbered(synthetic_dataset(seed=1))
    yield _bundle(_fit(dataset), dataset, tmp_path_factory.mktemp("other") / "bundle")


def title_of(dataset: Dataset, movie_id: int) -> str:
    movies: pd.DataFrame = dataset.movies.set_index("movie_id")
    return str(movies.loc[movie_id, "title"])


def test_a_profile_from_another_dataset_is_read_by_title_and_year(
    small_bundle: Path, other_bundle: Path, small_dataset: Dataset, tmp_path: Path
) -> None:
    env = {**os.environ, "MOVIEREC_PROFILES": str(tmp_path / "profiles.db")}
    ours = 9  # a synthetic movie: seed 1 gave the other dataset's movie 9 another year
    assert title_of(small_dataset, ours) != title_of(
        renumbered(synthetic_dataset(seed=1)), other_id(ours)
    )
    with wire_session(small_bundle, env=env) as first:
        call(
            first,
            "rate_movies",
            {
                "profile": "ann",
                "ratings": [
                    {"movie": m, "rating": r}
                    for m, r in ((MATRIX, 5), (HEAT_1995, 4.5), (HEAT_1986, 1), (ours, 4))
                ],
                "seen": [TOY_STORY],
            },
        )
        call(first, "watchlist_add", {"profile": "ann", "movies": [MISERABLES, UNDATED]})
    with wire_session(other_bundle, env=env) as second:
        view = call(second, "get_profile", {"profile": "ann"})
        assert view["dataset_matches"] is False
        assert [u["movie"]["id"] for u in view["unmapped"]] == [ours]
        assert "no single movie here is" in view["unmapped"][0]["why"]
        mine = call(second, "recommend_for_user", {"profile": "ann", "k": 80})
        assert (mine["profile"]["n_ratings"], mine["profile"]["unmapped"]) == (3, 1)
        assert "match no movie here" in mine["note"]
        shown = {i["movie_id"] for i in mine["items"]}
        # Left out by the films they are here, never by the numbers they had.
        assert not shown & {other_id(m) for m in (MATRIX, HEAT_1995, HEAT_1986, TOY_STORY)}
        liked = [i["reason"] for i in mine["items"] if "Because you liked" in i["reason"]]
        assert all("Heat (1986)" not in r for r in liked)  # the disliked Heat stays disliked
        refused = second.call_tool(
            "rate_movies", {"profile": "ann", "ratings": [{"movie": other_id(20), "rating": 3}]}
        )
        assert refused.get("isError") and "made with another dataset" in text(refused)
        assert "import_profile" in text(refused)
        document = call(second, "export_profile", {"profile": "ann"})["document"]
        moved = call(
            second, "import_profile", {"document": document, "profile": "ann", "replace": True}
        )
        assert moved["mapped"] and moved["replaced"]
        assert [u["movie"]["id"] for u in moved["unmapped"]] == [ours]
        assert moved["counts"] == {"ratings": 3, "seen": 1, "watchlist": 2}
        view = call(second, "get_profile", {"profile": "ann"})
        assert view["dataset_matches"] is True and view["unmapped"] == []
        assert [(e["movie"]["id"], e["rating"]) for e in view["ratings"]] == [
            (other_id(MATRIX), 5.0),
            (other_id(HEAT_1995), 4.5),
            (other_id(HEAT_1986), 1.0),
        ]
        assert [e["movie"]["id"] for e in view["watchlist"]] == [
            other_id(MISERABLES),
            other_id(UNDATED),
        ]
        again = [{"movie": "Heat 1986", "rating": 2}]  # moved: it takes ratings again
        stored = call(second, "rate_movies", {"profile": "ann", "ratings": again})["ratings"]
        assert stored[0]["movie"]["id"] == other_id(HEAT_1986)
