"""Metrics, protocol splits and the `evaluate` command."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import Dataset
from recsys.data.synthetic import write_csv
from recsys.evaluation import baselines
from recsys.evaluation.answers import ModelScorer, rank_split
from recsys.evaluation.report import format_table, pca_2d
from recsys.evaluation.runner import EvalConfig, evaluate_dataset
from recsys.evaluation.splits import EvalUser, cold_split, warm_split
from recsys.metrics.ranking import (
    coverage_at_k,
    hit_matrix,
    hit_rate_at_k,
    ndcg_at_k,
    ranking_metrics,
    recall_at_k,
    top_k,
)
from server.cli import main


def make_dataset(
    ratings: list[tuple[int, int, float, int]],
    n_movies: int,
    genres: dict[int, tuple[str, ...]] | None = None,
    demographics: bool = False,
) -> Dataset:
    genres = genres or {}
    movies = pd.DataFrame(
        {
            "movie_id": np.arange(1, n_movies + 1, dtype=np.int64),
            "title": [f"Movie {i} (2000)" for i in range(1, n_movies + 1)],
            "year": pd.array([2000] * n_movies, dtype="Int64"),
            "genres": [genres.get(i, ("Drama",)) for i in range(1, n_movies + 1)],
        }
    )
    r = pd.DataFrame(ratings, columns=["user_id", "movie_id", "rating", "timestamp"])
    r = r.astype(
        {"user_id": "int64", "movie_id": "int64", "rating": "float32", "timestamp": "int64"}
    )
    uids = np.sort(r["user_id"].unique())
    users = pd.DataFrame(
        {
            "user_id": uids,
            "gender": [("F" if u % 2 else "M") if demographics else None for u in uids],
            "age": pd.array([25 if demographics else pd.NA for _ in uids], dtype="Int64"),
            "occupation": ["writer" if demographics else None for _ in uids],
        }
    )
    return Dataset(
        name="synthetic",
        format="csv",
        path=None,
        movies=movies,
        users=users,
        ratings=r,
        has_demographics=demographics,
        rating_scale=(0.5, 5.0),
    )


def taste_dataset(n_users: int = 40, seed: int = 0, demographics: bool = False) -> Dataset:
    """Two tastes: odd users love Action (5) and dislike Comedy (1); even users the reverse."""
    rng = np.random.default_rng(seed)
    n_movies = 24
    genres = {m: ("Action",) if m <= 12 else ("Comedy",) for m in range(1, n_movies + 1)}
    ratings = []
    for u in range(1, n_users + 1):
        likes_action = u % 2 == 1
        for t, m in enumerate(rng.choice(np.arange(1, n_movies + 1), size=12, replace=False)):
            action = m <= 12
            rating = 5.0 if action == likes_action else 1.0
            ratings.append((u, int(m), rating, 1000 + 10 * t))
    return make_dataset(ratings, n_movies, genres, demographics)


# --------------------------------------------------------------------------- metrics


def test_top_k_orders_best_first_and_breaks_ties_by_index():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, -1.0], [3.0, 2.0, 1.0, 0.0, 4.0]])
    np.testing.assert_array_equal(top_k(scores, 3), [[1, 3, 2], [4, 0, 1]])


def test_top_k_marks_missing_slots_when_too_few_candidates():
    scores = np.array([[1.0, -np.inf, 2.0, -np.inf]])
    np.testing.assert_array_equal(top_k(scores, 3), [[2, 0, -1]])
    np.testing.assert_array_equal(top_k(scores, 6), [[2, 0, -1, -1, -1, -1]])


def test_ndcg_hand_computed():
    # Hits at ranks 1 and 3 of 10, two relevant: DCG = 1 + 1/log2(4), IDCG = 1 + 1/log2(3).
    hits = np.zeros((1, 10), dtype=bool)
    hits[0, [0, 2]] = True
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(hits, np.array([2]))[0] == pytest.approx(expected)
    # Ideal DCG is capped at k: twenty relevant movies and ten hits is a perfect list.
    assert ndcg_at_k(np.ones((1, 10), bool), np.array([20]))[0] == pytest.approx(1.0)
    # One hit at rank 10 of five relevant.
    one = np.zeros((1, 10), dtype=bool)
    one[0, 9] = True
    ideal = sum(1 / math.log2(i + 2) for i in range(5))
    assert ndcg_at_k(one, np.array([5]))[0] == pytest.approx((1 / math.log2(11)) / ideal)
    assert ndcg_at_k(np.zeros((1, 10), bool), np.array([3]))[0] == 0.0


def test_recall_divides_by_min_k_and_relevant():
    hits = np.zeros((3, 10), dtype=bool)
    hits[0, [1, 4]] = True  # 2 of 4 relevant
    hits[1, :5] = True  # 5 hits, 20 relevant -> 5 / min(10, 20)
    hits[2, 0] = True  # 1 of 1
    np.testing.assert_allclose(recall_at_k(hits, np.array([4, 20, 1])), [0.5, 0.5, 1.0])


def test_hit_rate_and_coverage():
    hits = np.array([[False, True], [False, False]])
    np.testing.assert_array_equal(hit_rate_at_k(hits), [1.0, 0.0])
    top = np.array([[0, 1, -1], [1, 2, 5]])
    assert coverage_at_k(top, 10) == pytest.approx(0.4)  # {0, 1, 2, 5}; -1 is no movie


def test_hit_matrix_and_ranking_metrics_together():
    top = np.array([[3, 1, 7], [2, -1, -1]])
    relevant = [np.array([1, 9]), np.array([4])]
    np.testing.assert_array_equal(hit_matrix(top, relevant), [[0, 1, 0], [0, 0, 0]])
    m = ranking_metrics(top, relevant, n_movies=10)
    assert m["hr@3"] == pytest.approx(0.5)
    assert m["recall@3"] == pytest.approx(0.25)  # (1/2 + 0) / 2
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(3)) / ideal / 2)
    assert m["coverage@3"] == pytest.approx(0.4)
    assert m["users"] == 2


# --------------------------------------------------------------------------- splits


def test_warm_split_holds_out_the_latest_fifth_of_each_user():
    ratings = []
    # User 1: ten ratings; the two latest (movies 9, 10) are test. Movie 8 shares
    # its timestamp with movie 3 and sorts after it by id.
    times = [5, 1, 7, 3, 2, 6, 4, 7, 9, 8]
    for m, t in zip(range(1, 11), times, strict=True):
        ratings.append((1, m, 5.0 if m != 10 else 2.0, t))
    # User 2: three ratings -> round(0.6) = 1 test rating (the latest).
    ratings += [(2, 1, 4.0, 10), (2, 2, 4.5, 30), (2, 3, 1.0, 20)]
    # User 3: one rating -> it is test, nothing to train on: not a warm user.
    ratings += [(3, 4, 5.0, 1)]
    ds = make_dataset(ratings, 12)
    split = warm_split(ds)
    train = split.train.ratings
    test = split.test_ratings
    assert sorted(test[test.user_id == 1].movie_id) == [9, 10]
    assert sorted(test[test.user_id == 2].movie_id) == [2]
    assert sorted(test[test.user_id == 3].movie_id) == [4]
    # Disjoint and complete.
    key = lambda f: set(zip(f.user_id, f.movie_id, strict=True))  # noqa: E731
    assert not key(train) & key(test)
    assert key(train) | key(test) == key(ds.ratings)
    # Every test rating is later than every train rating of the same user.
    for uid in (1, 2):
        t_train = ds.ratings.merge(train[train.user_id == uid])["timestamp"].max()
        t_test = ds.ratings.merge(test[test.user_id == uid][["user_id", "movie_id"]])
        assert t_test["timestamp"].min() >= t_train
    # Evaluated users: 1 (movie 9 rated 5 is relevant, movie 10 rated 2 is not) and 2.
    assert [u.user_id for u in split.users] == [1, 2]
    assert all(u.known for u in split.users)
    np.testing.assert_array_equal(split.relevant[0], [8])  # dense index of movie 9
    np.testing.assert_array_equal(split.exclude[0], np.arange(8))  # movies 1-8
    np.testing.assert_array_equal(split.relevant[1], [1])
    np.testing.assert_array_equal(split.exclude[1], [0, 2])
    assert split.skipped_users == 1
    # Same movies table: the whole catalogue is ranked.
    assert split.train.movies.equals(ds.movies)


def test_warm_split_test_count_is_a_fifth_rounded_at_least_one():
    for n, expected in [(1, 1), (2, 1), (4, 1), (7, 1), (8, 2), (12, 2), (13, 3), (20, 4)]:
        ds = make_dataset([(1, m, 4.0, m) for m in range(1, n + 1)], n)
        assert len(warm_split(ds).test_ratings) == expected, n


def test_warm_users_state_genres_from_their_training_likes():
    genres = {m: ("Horror",) if m in (1, 2) else ("Drama",) for m in range(1, 11)}
    ratings = [(1, m, 5.0 if m in (1, 2, 10) else 2.0, m) for m in range(1, 11)]
    split = warm_split(make_dataset(ratings, 10, genres))
    (user,) = split.users
    assert user.stated_genres == ("Horror",)  # movie 10 (Drama, test) is not used


def test_cold_split_holds_out_users_entirely_and_is_seeded():
    ds = taste_dataset(n_users=40, demographics=True)
    a, b = cold_split(ds, seed=3), cold_split(ds, seed=3)
    held = set(a.test_ratings.user_id)
    assert len(held) == 8  # 20% of 40
    assert held == set(b.test_ratings.user_id)
    assert [u.user_id for u in a.users] == [u.user_id for u in b.users]
    assert held != set(cold_split(ds, seed=4).test_ratings.user_id)
    assert not held & set(a.train.ratings.user_id)
    assert not held & set(a.train.users.user_id)
    assert len(a.train.ratings) + len(a.test_ratings) == len(ds.ratings)
    for user, rel, ex in zip(a.users, a.relevant, a.exclude, strict=True):
        assert not user.known
        assert len(ex) == 0  # nothing excluded
        mine = ds.ratings[(ds.ratings.user_id == user.user_id) & (ds.ratings.rating >= 4)]
        np.testing.assert_array_equal(rel, np.sort(mine.movie_id.to_numpy() - 1))
        # Odd users love Action, even users Comedy: their stated genre says so.
        assert user.stated_genres == (("Action",) if user.user_id % 2 else ("Comedy",))
        assert user.gender in ("F", "M") and user.age == 25 and user.occupation == "writer"


def test_cold_users_have_no_demographics_when_the_dataset_has_none():
    split = cold_split(taste_dataset(demographics=False), seed=0)
    assert split.users
    assert all(u.gender is None and u.age is None and u.occupation is None for u in split.users)


def test_cold_split_skips_users_without_a_liked_movie():
    ratings = [(u, m, 4.0, m) for u in range(1, 10) for m in range(1, 5)]
    ratings += [(10, m, 1.0, m) for m in range(1, 5)]
    ds = make_dataset(ratings, 5)
    for seed in range(10):
        split = cold_split(ds, seed=seed)
        held = set(split.test_ratings.user_id)
        assert {u.user_id for u in split.users} == held - {10}
        assert split.skipped_users == (1 if 10 in held else 0)


# --------------------------------------------------------------------------- ranking


def test_rank_split_never_recommends_excluded_movies():
    ds = taste_dataset()
    split = warm_split(ds)
    top = rank_split(baselines.fit_popularity(baselines.train_data(split.train)), split, k=10)
    for row, ex in zip(top, split.exclude, strict=True):
        assert not set(row.tolist()) & set(ex.tolist())


class FakeModel:
    """Records the queries it is asked; scores by a fixed per-movie table."""

    def __init__(self, movie_ids: np.ndarray, occupations=("writer",)):
        self.features = type("F", (), {"movie_ids": movie_ids, "occupations": occupations})
        self.movie_embeddings = np.eye(len(movie_ids), dtype=np.float32)
        self.curves = {"train_loss": [3.0, 2.0], "val_ndcg": [0.1], "val_epoch": [2]}
        self.calls: list[tuple] = []

    def known_user_query(self, user_id):
        self.calls.append(("known", user_id))
        return ("known", user_id)

    def preference_query(self, genres, age=None, occupation=None, gender=None, liked_movie_ids=()):
        self.calls.append(("pref", tuple(genres), age, occupation, gender, tuple(liked_movie_ids)))
        return ("pref", tuple(genres))

    def score(self, queries):
        return np.tile(self.features.movie_ids.astype(np.float64), (len(queries), 1))


def test_model_scorer_builds_the_right_query_per_protocol():
    catalogue = np.array([10, 20, 30])
    fake = FakeModel(catalogue)
    scorer = ModelScorer(fake, catalogue)
    warm = EvalUser(user_id=7, known=True, stated_genres=("Drama",))
    cold = EvalUser(
        user_id=8, known=False, stated_genres=("Horror", "War"), gender="F", age=35,
        occupation="writer",
    )  # fmt: skip
    talking = EvalUser(user_id=9, known=False, stated_genres=("War",), liked=(30, 10))
    scores = scorer.score([warm, cold, talking])
    assert fake.calls == [
        ("known", 7),
        ("pref", ("Horror", "War"), 35, "writer", "F", ()),
        ("pref", ("War",), None, None, None, (30, 10)),  # protocol F: the named movies go in
    ]
    np.testing.assert_array_equal(scores, [[10, 20, 30]] * 3)


def test_model_scorer_maps_model_columns_onto_the_catalogue():
    catalogue = np.array([10, 20, 30, 40])
    fake = FakeModel(np.array([30, 10, 20]))  # another order, and movie 40 missing
    scores = ModelScorer(fake, catalogue).score([EvalUser(1, True, ())])
    np.testing.assert_array_equal(scores, [[10, 20, 30, -np.inf]])
    emb = ModelScorer(fake, catalogue).movie_embeddings
    np.testing.assert_array_equal(emb[0], [0, 1, 0])  # movie 10 is the model's row 1
    np.testing.assert_array_equal(emb[3], [0, 0, 0])


def test_pca_2d_finds_the_main_axis():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    x = np.stack([t, 2 * t, 0.01 * rng.normal(size=200)], axis=1)
    xy = pca_2d(x)
    assert xy.shape == (200, 2)
    assert abs(np.corrcoef(xy[:, 0], t)[0, 1]) > 0.999
    assert xy[:, 1].std() < 0.05 * xy[:, 0].std()


# --------------------------------------------------------------------------- runner


@pytest.mark.slow  # trains the naive two-tower
def test_evaluate_dataset_writes_json_and_plots(tmp_path):
    ds = taste_dataset(n_users=60, demographics=True)
    methods = ("popularity", "genre-popularity", "genre-content", "naive-two-tower", "ease")
    config = EvalConfig(methods=methods, naive_epochs=2, progress=False, out=tmp_path)
    result = evaluate_dataset(ds, config)
    # 24 movies: every like is among the 100 most-liked, so F-tail has no users.
    assert set(result["metrics"]) == {"W", "C", "F1", "F3", "F5"}
    assert set(result["metrics"]["W"]) == set(methods)
    assert "ease" not in result["metrics"]["C"]  # EASE needs a history
    assert set(result["metrics"]["F3"]) == {"popularity", "genre-popularity", "ease"}
    for protocol, per_method in result["metrics"].items():
        for method, m in per_method.items():
            assert 0.0 <= m["ndcg@10"] <= 1.0 and 0.0 <= m["coverage@10"] <= 1.0, method
            assert m["users"] == result["splits"][protocol]["evaluated_users"]
    assert "rmse" in result["metrics"]["W"]["naive-two-tower"]
    assert "rmse" not in result["metrics"]["W"]["popularity"]
    # Planted taste: cold users state their genre, so genre-popularity beats popularity.
    c = result["metrics"]["C"]
    assert c["genre-popularity"]["ndcg@10"] > c["popularity"]["ndcg@10"]
    saved = json.loads((tmp_path / "synthetic.json").read_text())
    assert saved["metrics"] == json.loads(json.dumps(result["metrics"]))
    assert saved["seed"] == 0 and saved["config"]["methods"] == list(methods)
    assert saved["details"]["W"]["ease"]["lambda"] in config.ease_grid
    assert {"fit_s", "score_s"} <= set(saved["timings"]["W"]["ease"])
    assert saved["plots"]
    for name in saved["plots"]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(n.endswith("naive-two-tower_embeddings.png") for n in saved["plots"])
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))
    table = format_table(result)
    assert "genre-popularity" in table and "ndcg@10" in table


def test_evaluate_dataset_is_deterministic():
    ds = taste_dataset(n_users=30)
    config = EvalConfig(methods=("popularity", "genre-content"), progress=False)
    assert evaluate_dataset(ds, config)["metrics"] == evaluate_dataset(ds, config)["metrics"]


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="unknown protocol"):
        EvalConfig(protocols=("X",))
    with pytest.raises(ValueError, match="unknown model.*choose from"):
        EvalConfig(methods=("popularty",))


@pytest.mark.slow  # trains the real model for two epochs
def test_evaluate_command_end_to_end(tmp_path, capsys):
    data_dir = write_csv(taste_dataset(n_users=40), tmp_path / "tiny")
    out = tmp_path / "eval"
    argv = [
        "evaluate", "--dataset", str(data_dir), "--out", str(out), "--quiet",
        "--models", "popularity,genre-popularity,ease,model", "--epochs", "2",
        "--ease-lambda", "10", "--set", "dim=16", "--threads", "1",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "popularity" in printed and "model" in printed
    (json_file,) = out.glob("*.json")
    saved = json.loads(json_file.read_text())
    assert saved["details"]["W"]["ease"] == {"lambda": 10.0}
    assert set(saved["metrics"]["W"]) == {"popularity", "genre-popularity", "ease", "model"}
    assert set(saved["metrics"]["C"]) == {"popularity", "genre-popularity", "model", "towers"}
    # The training flags reach the model through EvalConfig.train.
    model = saved["details"]["W"]["model"]
    assert [run["seed"] for run in model["runs"]] == [0]
    assert model["runs"][0]["training"]["config"]["loop"]["epochs"] == 2
    assert model["model_config"]["dim"] == 16
    assert any(n.endswith("model_curves.png") for n in saved["plots"])
    assert any(n.endswith("model_embeddings.png") for n in saved["plots"])
    for name in saved["plots"]:
        assert (out / name).is_file()


def test_evaluate_command_reports_bad_input(tmp_path, capsys):
    assert main(["evaluate", "--dataset", str(tmp_path / "nope"), "--threads", "1"]) == 2
    assert "movierec evaluate:" in capsys.readouterr().err
    data_dir = write_csv(taste_dataset(n_users=10), tmp_path / "tiny")
    argv = ["evaluate", "--dataset", str(data_dir), "--threads", "1"]
    assert main([*argv, "--protocols", "W,Q"]) == 2
    assert "unknown protocol" in capsys.readouterr().err
    assert main([*argv, "--set", "loop.epochs=0"]) == 2
    assert "epochs, batch_size and eval_every must be at least 1" in capsys.readouterr().err


# --------------------------------------------------------------------------- real data


@pytest.mark.slow  # loads a full real dataset
def test_ml100k_baselines_land_near_known_figures(shared_data):
    from recsys.data.dataset import load_dataset

    if not (shared_data / "ml-100k").is_dir():
        pytest.skip(f"ML-100K not found in {shared_data}")
    ds = load_dataset(shared_data / "ml-100k")
    config = EvalConfig(
        methods=("popularity", "genre-popularity", "ease"), ease_lambda=200.0, progress=False
    )
    m = evaluate_dataset(ds, config)["metrics"]
    assert 0.08 < m["W"]["popularity"]["ndcg@10"] < 0.11
    assert 0.16 < m["W"]["ease"]["ndcg@10"] < 0.21
    assert m["W"]["ease"]["ndcg@10"] > 1.5 * m["W"]["popularity"]["ndcg@10"]
    assert 0.3 < m["C"]["popularity"]["ndcg@10"] < 0.5
    assert m["C"]["genre-popularity"]["ndcg@10"] > m["C"]["popularity"]["ndcg@10"]
