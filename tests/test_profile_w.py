"""Protocol W run through real stored profiles: every W user's training ratings stored in a
SQLite profile, in their time order, and recommended from through the server's profile path
(`server.profiles.ProfileService`), give the lists the users get by user id; so W through
profiles scores what W through user ids does (the number on ML-100K is in
bench/results/profiles_server.md, from bench/bench_profiles.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_people import ids, ratings_of

from recsys.data.synthetic import synthetic_dataset
from recsys.profiles import Movie, Rating, open_store
from recsys.serving.filters import NO_FILTERS
from recsys.serving.recommender import Recommender

pytestmark = pytest.mark.slow  # trains a model


@pytest.fixture(scope="module")
def warm_recommender(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Recommender, object]]:
    """The small model trained on protocol W's training part of the no-demographics data."""
    from conftest import SMALL_TRAIN

    from recsys.bundle.write import write_bundle
    from recsys.evaluation.splits import warm_split
    from recsys.training.fit import fit

    split = warm_split(synthetic_dataset(demographics=False))
    model = fit(split.train, SMALL_TRAIN, progress=False)
    out = write_bundle(model, split.train, tmp_path_factory.mktemp("warm") / "bundle", n_trees=5)
    yield Recommender.load(out), split


def test_protocol_w_through_stored_profiles_matches_w_through_user_ids(
    warm_recommender: tuple[Recommender, object], tmp_path: Path
) -> None:
    """Every W user's training ratings stored in a real SQLite profile and read back: the
    top 10 is the user's own, so W through profiles scores what W through user ids does."""
    from server.profiles import ProfileService

    rec, split = warm_recommender
    train = split.train  # type: ignore[attr-defined]
    store = open_store(tmp_path / "profiles.db")
    service = ProfileService(rec, store, {}, 100_000)
    titles = dict(zip(train.movies["movie_id"], train.movies["title"], strict=True))
    years = dict(zip(train.movies["movie_id"], train.movies["year"], strict=True))
    users = [u.user_id for u in split.users]  # type: ignore[attr-defined]
    assert len(users) > 40
    for user_id in users:
        rated = ratings_of(train, user_id)
        store.rate(
            "default",
            f"user-{user_id}",
            dataset=rec.dataset_fingerprint,
            ratings=[
                Rating(Movie(m, str(titles[m]), None if pd.isna(years[m]) else int(years[m])), r)
                for m, r in rated
            ],
        )
        by_profile = service.recommend(
            "default", f"user-{user_id}", 10, NO_FILTERS, True, (), None, None, None
        )
        by_user = rec.for_user(user_id, k=10)
        assert ids(by_profile.items) == ids(by_user.items), user_id
    store.close()
