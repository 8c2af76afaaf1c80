"""The request-adherence and similar-movies reports' measurements: genre adherence, variety,
franchise caps, the independent reason check, franchise recall, coherence and reliability."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recsys.data.synthetic import synthetic_dataset
from recsys.data.vocab import GENRES
from recsys.evaluation import baselines
from recsys.evaluation.adherence import Answered, Asked, Facts, list_facts, reason_check, variety
from recsys.evaluation.colikes import LIFT_MIN, SUPPORT_MIN, CoLikes
from recsys.evaluation.similar_baselines import (
    ease_rows,
    genre_year,
    item_knn_cosine,
    rated_matrix,
)
from recsys.evaluation.similarity import (
    binned,
    calibration_error,
    franchise_recall,
    genre_coherence,
    liked_pairs,
    neighbour_lists,
)
from recsys.features.franchises import Franchises
from recsys.features.taste import genre_matrix

# Six movies: 0-2 one franchise, 3-4 another, 5 alone.
FRANCHISES = Franchises(np.array([0, 0, 0, 1, 1, -1], dtype=np.int32), ((0, 1, 2), (3, 4)))
GENRE_ROWS = [("Action",), ("Action", "Sci-Fi"), ("Comedy",), ("Drama",), ("Drama",), ("War",)]


def facts(ratings: list[int] | None = None) -> Facts:
    return Facts(
        titles=[f"Movie {i}" for i in range(6)],
        genre_names=GENRES,
        genres=genre_matrix(GENRE_ROWS) > 0,
        ratings=np.array(ratings or [50, 40, 30, 20, 10, 5]),
        franchises=FRANCHISES,
    )


# --------------------------------------------------------------------------- adherence


def test_list_facts_counts_genres_fame_franchises_and_forbidden_movies():
    f = replace(facts(), ratings=np.array([50, 40, 30, 20, 10, 5]))
    asked = Asked("p", ("Action", "Drama"), liked=(3,), disliked=(5,), excluded=(2,))
    out = list_facts(asked, Answered((0, 1, 2, 4, 5), (None,) * 5), f)
    assert out["n"] == 5 and out["in_genre"] == 3  # 0, 1 Action; 4 Drama
    assert out["median_ratings"] == 30.0
    assert out["max_franchise"] == 3  # 0, 1, 2
    assert out["max_unnamed_franchise"] == 3  # liked 3 names franchise 1, not 0
    assert out["listed_liked"] == [] and out["listed_disliked"] == [5]
    assert out["listed_excluded"] == [2]
    named = list_facts(replace(asked, liked=(0,)), Answered((1, 2, 3), (None,) * 3), f)
    assert named["max_franchise"] == 2 and named["max_unnamed_franchise"] == 1  # movie 3


def test_most_rated_share_and_variety_over_lists():
    f = facts()
    assert f.most_rated(2).tolist() == [0, 1]
    lists = [
        Answered((0, 3), (None, None)),
        Answered((0, 5), (None, None)),
        Answered((4,), (None,)),
    ]
    v = variety(lists, f)
    assert v["most_frequent_title"] == "Movie 0" and v["most_frequent_lists"] == 2
    assert v["distinct_titles"] == 4 and v["quarter_of_lists"] == 0.75
    assert v["lists"] == 3


# --------------------------------------------------------------------------- reasons


@pytest.fixture(scope="module")
def colikes_data():
    ds = synthetic_dataset()
    return ds, CoLikes.of(ds)


def test_colikes_count_lift_from_the_raw_ratings(colikes_data):
    ds, co = colikes_data
    liked = ds.ratings[ds.ratings["rating"] >= 4]
    pos = {int(m): i for i, m in enumerate(ds.movies["movie_id"])}
    by = liked.groupby("movie_id")["user_id"].apply(set)
    a, b = by.index[0], by.index[1]
    both = len(by[a] & by[b])
    users = ds.ratings["user_id"].nunique()
    lift, n = co.lift(pos[a], pos[b])
    assert n == both and lift == pytest.approx(both * users / (len(by[a]) * len(by[b])))
    assert co.lift(pos[a], pos[a])[1] == len(by[a])
    assert not co.supports(pos[a], pos[a])  # never because of itself
    unrated = int(np.flatnonzero([len(s) == 0 for s in co.likers])[0])
    assert co.lift(pos[a], unrated) == (0.0, 0)


def test_reason_check_flags_weak_links_self_links_and_unliked_citations():
    ratings = []
    # Users 1-10 like movies 0 and 1 together; users 11-40 like movie 2 only; 41-42 like 0 and 3.
    for u in range(1, 11):
        ratings += [(u, 1, 5.0), (u, 2, 5.0)]
    for u in range(11, 41):
        ratings += [(u, 3, 5.0), (u, 6, 2.0)]
    for u in (41, 42):
        ratings += [(u, 1, 5.0), (u, 4, 5.0)]
    ds = synthetic_dataset()
    movies = ds.movies.iloc[:6].assign(movie_id=np.arange(1, 7))
    r = pd.DataFrame(ratings, columns=["user_id", "movie_id", "rating"]).assign(timestamp=0)
    co = CoLikes.of(replace(ds, movies=movies, ratings=r.astype({"rating": "float32"})))
    lift, n = co.lift(0, 1)
    assert n == 10 and lift >= LIFT_MIN and n >= SUPPORT_MIN
    assert co.lift(0, 3) == (pytest.approx(2 * 42 / (12 * 2)), 2)  # too few co-likers
    asked = [Asked("a", ("Drama",), liked=(0,)), Asked("b", ("Drama",))]
    answered = [
        Answered((1, 3, 0, 2), (0, 0, 0, None)),  # true, too weak, itself, none
        Answered((1,), (0,)),  # cites a movie the person never named
    ]
    out = reason_check(asked, answered, co, facts())
    bad = {(v["request"], v["item"]) for v in out["violations"]}
    assert bad == {("a", "Movie 3"), ("a", "Movie 0"), ("b", "Movie 1")}
    assert out["reasons_citing_a_liked_movie"] == 4
    assert out["share_citing_liked_when_liked_given"] == pytest.approx(3 / 4)


# --------------------------------------------------------------------------- similar movies


def test_franchise_recall_counts_partners_up_to_k():
    top = np.array([[1, 5, 3], [0, 2, 5], [3, 4, 5]])
    anchors = np.array([0, 1, 3])
    rec = franchise_recall(top[:, :2], anchors, FRANCHISES)
    np.testing.assert_allclose(rec, [0.5, 1.0, 1.0])  # 1 of {1, 2}; 2 of {0, 2}; 4 of {4}
    with pytest.raises(ValueError, match="no franchise partner"):
        franchise_recall(top, np.array([5]), FRANCHISES)


def test_genre_coherence_is_mean_jaccard_and_share_sharing_a_genre():
    g = genre_matrix(GENRE_ROWS) > 0
    jac, share = genre_coherence(np.array([[1, 2, -1]]), np.array([0]), g)
    assert jac[0] == pytest.approx((0.5 + 0.0) / 2)  # Action vs Action|Sci-Fi; vs Comedy
    assert share[0] == pytest.approx(0.5)


def test_neighbour_lists_never_hold_the_anchor():
    scores = np.array([[9.0, 1.0, 2.0, 0.0], [0.0, 9.0, 1.0, 1.0]])
    np.testing.assert_array_equal(neighbour_lists(scores, np.array([0, 1]), 2), [[2, 1], [2, 3]])


def test_reliability_pairs_and_bins():
    neighbours = np.array([[1, 2], [0, 2], [0, 1]])
    values = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    shown, hit, anchor = liked_pairs(neighbours, values, [np.array([0, 1])])
    np.testing.assert_allclose(shown, [0.9, 0.1, 0.8, 0.2])
    assert hit.tolist() == [True, False, True, False] and anchor.tolist() == [0, 0, 1, 1]
    bins = binned(shown, hit.astype(float), shown, (0.0, 0.5))
    assert [(b.pairs, b.predicted, b.observed) for b in bins] == [
        (2, pytest.approx(0.15), 0.0),
        (2, pytest.approx(0.85), 1.0),
    ]
    assert calibration_error(bins) == pytest.approx(0.15)


def test_similar_baselines_score_by_co_raters_ease_weights_and_content():
    ds = synthetic_dataset()
    data = baselines.train_data(ds)
    rated = rated_matrix(data)
    assert rated.sum() == len(ds.ratings)
    anchors = np.array([0, 5])
    cos = item_knn_cosine(rated, anchors)
    a, j = rated[:, 0], rated[:, 10]
    assert cos[0, 10] == pytest.approx((a * j).sum() / np.sqrt(a.sum() * j.sum()))
    ease = baselines.fit_ease(data, lam=50.0)
    rows = ease_rows(ease, anchors)
    pos = {int(m): i for i, m in enumerate(ease.active)}
    assert rows[1, ease.active[3]] == pytest.approx(ease.weights[pos[5], 3])
    content = genre_year(data, anchors)
    mine = set(ds.movies["genres"][5])
    jaccard = [len(mine & set(g)) / len(mine | set(g)) for g in ds.movies["genres"]]
    jaccard[5] = -1.0
    assert jaccard[neighbour_lists(content, anchors, 1)[1, 0]] == max(jaccard)
