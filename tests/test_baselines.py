"""Each baseline ranks a planted signal correctly on a small synthetic dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import Dataset
from recsys.evaluation import baselines, naive
from recsys.evaluation.runner import tune_ease_lambda
from recsys.evaluation.splits import EvalUser
from recsys.model.itemitem import ease_matrix


def dataset(
    ratings: list[tuple[int, int, float]],
    genres: list[tuple[str, ...]],
    demographics: dict[int, tuple[str, int, str]] | None = None,
) -> Dataset:
    """Movies 1..len(genres); ratings (user, movie, rating) timestamped in list order."""
    n = len(genres)
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, n + 1, dtype=np.int64),
            "title": [f"M{i} (1990)" for i in range(1, n + 1)],
            "year": pd.array([1980 + i for i in range(n)], dtype="Int64"),
            "genres": genres,
        }
    )
    r = pd.DataFrame(
        [(u, m, v, t) for t, (u, m, v) in enumerate(ratings)],
        columns=["user_id", "movie_id", "rating", "timestamp"],
    ).astype({"user_id": "int64", "movie_id": "int64", "rating": "float32", "timestamp": "int64"})
    uids = np.sort(r["user_id"].unique())
    demo = demographics or {}
    users = pd.DataFrame(
        {
            "user_id": uids,
            "gender": [demo.get(u, (None,))[0] for u in uids],
            "age": pd.array([demo[u][1] if u in demo else pd.NA for u in uids], dtype="Int64"),
            "occupation": [demo[u][2] if u in demo else None for u in uids],
        }
    )
    return Dataset("planted", "csv", None, movies, users, r, bool(demo), (1.0, 5.0))


def known(user_id: int, stated: tuple[str, ...] = (), **demo) -> EvalUser:
    return EvalUser(user_id=user_id, known=True, stated_genres=stated, **demo)


def cold(stated: tuple[str, ...], **demo) -> EvalUser:
    return EvalUser(user_id=-1, known=False, stated_genres=stated, **demo)


GENRES_6 = [("Drama",), ("Drama",), ("Horror",), ("Horror",), ("Sci-Fi",), ("Drama", "Sci-Fi")]


def test_train_data_indexes_ratings_by_catalogue_position():
    ds = dataset([(1, 3, 5.0), (1, 1, 2.0), (2, 3, 4.0)], GENRES_6)
    data = baselines.train_data(ds)
    np.testing.assert_array_equal(data.counts, [1, 0, 2, 0, 0, 0])
    items, ratings = data.histories[1]
    np.testing.assert_array_equal(items, [2, 0])
    np.testing.assert_array_equal(ratings, [5.0, 2.0])
    np.testing.assert_array_equal(data.liked_items(1), [2])
    np.testing.assert_array_equal(data.liked_items(99), [])
    assert data.movie_genres.shape == (6, 19)


def test_popularity_ranks_the_most_rated_movie_first():
    ratings = [(u, 4, 3.0) for u in range(1, 6)] + [(1, 2, 5.0), (2, 2, 5.0), (3, 6, 1.0)]
    scorer = baselines.fit_popularity(baselines.train_data(dataset(ratings, GENRES_6)))
    scores = scorer.score([known(1), cold(("Drama",))])
    assert scores.shape == (2, 6)
    for row in scores:
        assert list(np.argsort(-row, kind="stable")[:3]) == [3, 1, 5]


def test_genre_popularity_prefers_stated_genres_then_popularity():
    # Movie 1 (Drama) is the blockbuster; among Horror films movie 4 is more popular than 3.
    ratings = [(u, 1, 4.0) for u in range(1, 9)]
    ratings += [(1, 4, 4.0), (2, 4, 4.0), (3, 3, 4.0), (4, 5, 4.0)]
    data = baselines.train_data(dataset(ratings, GENRES_6))
    top = np.argsort(-baselines.fit_genre_popularity(data).score([cold(("Horror",))])[0])
    assert list(top[:3]) == [3, 2, 0]  # Horror by popularity, then the blockbuster
    # Two stated genres: any match counts the same by default...
    both = baselines.fit_genre_popularity(data).score([cold(("Drama", "Sci-Fi"))])[0]
    assert list(np.argsort(-both, kind="stable")[:2]) == [0, 4]
    # ...while the tiered variant puts the movie carrying both (6) first.
    tiered = baselines.fit_genre_popularity(data, tiered=True).score([cold(("Drama", "Sci-Fi"))])
    assert int(np.argmax(tiered[0])) == 5


def test_genre_content_matches_the_profile_of_liked_movies():
    # User 1 liked the two Horror films and disliked a Drama; Sci-Fi movie 5 is popular.
    ratings = [(1, 3, 5.0), (1, 4, 4.0), (1, 1, 1.0)] + [(u, 5, 5.0) for u in range(2, 9)]
    ratings += [(2, 2, 3.0), (3, 2, 3.0)]
    data = baselines.train_data(dataset(ratings, GENRES_6))
    scorer = baselines.fit_genre_content(data)
    np.testing.assert_allclose(scorer.profiles([known(1)])[0][data.movie_genres[2] > 0], [1.0])
    s = scorer.score([known(1)])[0]
    assert s[2] > s[4] and s[3] > s[4] and s[3] > s[0]
    # Cold user stating Drama: both pure dramas tie on cosine; the rated one (2) wins.
    c = scorer.score([cold(("Drama",))])[0]
    assert c[1] > c[0] > c[5] > c[2]
    assert c[5] == pytest.approx(1 / np.sqrt(2), abs=1e-5)


def test_ease_recovers_co_occurrence():
    # Movies 1 and 2 are always liked together, 3 and 4 likewise; 5 is liked by everyone.
    ratings = []
    for u in range(1, 21):
        pair = (1, 2) if u % 2 else (3, 4)
        ratings += [(u, pair[0], 5.0), (u, pair[1], 5.0), (u, 5, 4.0)]
    ratings += [(21, 1, 5.0), (22, 3, 4.5), (23, 2, 2.0)]  # 23 disliked movie 2
    data = baselines.train_data(dataset(ratings, GENRES_6))
    scorer = baselines.fit_ease(data, lam=1.0)
    s21, s22, s23 = scorer.score([known(21), known(22), known(23)])
    assert s21[1] > max(s21[2], s21[3], s21[4])  # liked 1 -> 2 comes next
    assert s22[3] > max(s22[0], s22[1], s22[4])  # liked 3 -> 4
    np.testing.assert_allclose(s23, 0.0)  # only a dislike: no positive history
    np.testing.assert_allclose(np.diag(scorer.weights), 0.0)
    assert s21[5] == 0.0  # movie 6 was never rated: EASE gives it nothing
    with pytest.raises(ValueError, match="stated genres alone"):
        scorer.score([cold(("Drama",))])


def test_ease_folds_in_the_movies_a_new_user_names():
    # Protocol F: score = x B over the named liked movies, as for a known user who liked them.
    ratings = []
    for u in range(1, 21):
        pair = (1, 2) if u % 2 else (3, 4)
        ratings += [(u, pair[0], 5.0), (u, pair[1], 5.0), (u, 5, 4.0)]
    ratings += [(21, 1, 5.0)]
    data = baselines.train_data(dataset(ratings, GENRES_6))
    scorer = baselines.fit_ease(data, lam=1.0)
    named = EvalUser(user_id=-1, known=False, stated_genres=("Drama",), liked=(1,))
    unknown_id = EvalUser(user_id=-1, known=False, stated_genres=(), liked=(999,))
    s_new, s_known, s_none = scorer.score([named, known(21), unknown_id])
    np.testing.assert_allclose(s_new, s_known)
    assert s_new[1] > max(s_new[2], s_new[3])  # named 1 -> 2 comes next
    np.testing.assert_allclose(s_none, 0.0)  # a movie outside the catalogue adds nothing


def test_ease_spectrum_matches_the_direct_solve():
    rng = np.random.default_rng(0)
    ratings = [
        (u, int(m), 5.0) for u in range(1, 30) for m in rng.choice(np.arange(1, 7), 3, False)
    ]
    data = baselines.positives(baselines.train_data(dataset(ratings, GENRES_6)))
    spectrum = baselines.EaseSpectrum.of(data)
    users = [known(u) for u in range(1, 30)]
    x = baselines.history_rows(data, spectrum.active, users)
    for lam in (0.5, 5.0, 50.0):
        active, gram = baselines.interaction_gram(data)
        direct = x @ ease_matrix(gram, lam)
        np.testing.assert_allclose(spectrum.scores(x, lam), direct, atol=1e-8)


def test_ease_lambda_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        ease_matrix(np.eye(3), 0.0)


def test_tune_ease_lambda_returns_a_grid_value_with_its_scores():
    ratings = []
    for u in range(1, 41):
        pair = (1, 2) if u % 2 else (3, 4)
        ratings += [(u, 5, 4.0), (u, 6, 4.0), (u, pair[0], 5.0), (u, pair[1], 5.0)]
    lam, scores = tune_ease_lambda(dataset(ratings, GENRES_6), grid=(1.0, 10.0, 1000.0))
    assert lam in (1.0, 10.0, 1000.0)
    assert set(scores) == {"1.0", "10.0", "1000.0"}
    assert scores[str(lam)] == max(scores.values())


def test_naive_two_tower_learns_genre_taste():
    # Action fans (odd users, women) rate Action 5 and Comedy 1; Comedy fans the reverse.
    genres = [("Action",)] * 6 + [("Comedy",)] * 6
    rng = np.random.default_rng(1)
    ratings, demo = [], {}
    for u in range(1, 61):
        fan = u % 2 == 1
        demo[u] = ("F" if fan else "M", 25, "writer")
        for m in rng.choice(np.arange(1, 13), 8, replace=False):
            ratings.append((u, int(m), 5.0 if (m <= 6) == fan else 1.0))
    data = baselines.train_data(dataset(ratings, genres, demo))
    cfg = naive.NaiveConfig(epochs=30, batch_size=64, lr=1e-2)
    model = naive.fit_naive_two_tower(data, cfg)
    assert len(model.curves["train_loss"]) == 30
    assert model.curves["train_loss"][-1] < 0.1 * model.curves["train_loss"][0]
    fan = known(1, gender="F", age=25, occupation="writer")
    s = model.score([fan, known(2, gender="M", age=25, occupation="writer")])
    assert s[0, :6].min() > s[0, 6:].max()  # known Action fan
    assert s[1, 6:].min() > s[1, :6].max()  # known Comedy fan
    pred = model.predict([fan, fan], np.array([0, 11]))
    assert pred[0] > 4.0 and pred[1] < 2.0
    assert model.movie_embeddings.shape == (12, cfg.dim)
    cold_model = naive.fit_naive_two_tower(data, cfg, stated_profiles=True)
    c = cold_model.score([cold(("Comedy",), gender="M", age=25, occupation="writer")])[0]
    assert c[6:].mean() > c[:6].mean()
