"""Protocol F (new users who name their earliest likes), F-tail, per-user metrics over seeds,
paired bootstrap intervals and the ranked-list path of the evaluation."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from recsys.data.dataset import Dataset
from recsys.data.synthetic import synthetic_dataset, write_csv
from recsys.evaluation import baselines
from recsys.evaluation.answers import rank_split
from recsys.evaluation.conversation import (
    MIN_LIKES,
    conversation_splits,
    head_movies,
    without_liked,
)
from recsys.evaluation.intervals import paired_bootstrap
from recsys.evaluation.measure import compare, measure
from recsys.evaluation.preference_answers import RankedPreferences
from recsys.evaluation.report import format_table
from recsys.evaluation.runner import EvalConfig, evaluate_dataset
from recsys.evaluation.splits import EvalSplit, EvalUser, cold_split
from server.cli import main

LIKE = 4.0  # synthetic ratings are 1-5


@pytest.fixture(scope="module")
def data() -> Dataset:
    ds = synthetic_dataset(n_users=80, n_movies=120, n_ratings=2400)
    # One user rates everything at the same moment: the order falls back on movie ids.
    r = ds.ratings.copy()
    r.loc[r["user_id"] == 2, "timestamp"] = 1_000_000_000
    return replace(ds, ratings=r)


@pytest.fixture(scope="module")
def cold(data: Dataset) -> EvalSplit:
    return cold_split(data, seed=0)


def likes_in_order(data: Dataset, user_id: int) -> list[int]:
    """The user's liked movie ids by (time, movie id), computed here from the raw ratings."""
    r = data.ratings[(data.ratings["user_id"] == user_id) & (data.ratings["rating"] >= LIKE)]
    r = r.sort_values(["timestamp", "movie_id"])
    return [int(m) for m in r["movie_id"]]


def test_f_users_name_their_earliest_likes_and_look_for_the_others(data, cold):
    convs = conversation_splits(cold)
    assert [c.label for c in convs] == ["F1", "F3", "F5"]
    catalogue = list(cold.catalogue)
    expected_users = [u.user_id for u in cold.users if len(likes_in_order(data, u.user_id)) >= 6]
    assert len(expected_users) >= 5
    c_users = {u.user_id: u for u in cold.users}
    for conv in convs:
        split, n = conv.split, conv.n_liked
        assert split.protocol == f"F{n}" and split.train is cold.train
        assert [u.user_id for u in split.users] == expected_users  # one user set for every N
        for u, rel, ex in zip(split.users, split.relevant, split.exclude, strict=True):
            likes = likes_in_order(data, u.user_id)
            assert list(u.liked) == likes[:n]
            assert replace(u, liked=()) == c_users[u.user_id]  # described as in C otherwise
            assert sorted(ex.tolist()) == sorted(catalogue.index(m) for m in likes[:n])
            assert sorted(rel.tolist()) == sorted(catalogue.index(m) for m in likes[n:])
            assert not set(rel.tolist()) & set(ex.tolist())  # named movies never count


def test_ties_in_time_go_to_the_lower_movie_id(data, cold):
    (f5,) = conversation_splits(cold, sizes=(5,))
    user = next(u for u in f5.split.users if u.user_id == 2)
    liked = data.ratings[(data.ratings["user_id"] == 2) & (data.ratings["rating"] >= LIKE)]
    assert list(user.liked) == sorted(liked["movie_id"].tolist())[:5]


def test_users_with_fewer_likes_than_the_minimum_are_left_out(cold):
    (f1,) = conversation_splits(cold, sizes=(1,), min_likes=10_000)
    assert f1.split.users == () and f1.split.skipped_users == cold.skipped_users + len(cold.users)
    with pytest.raises(ValueError, match="leave a like to find"):
        conversation_splits(cold, sizes=(1, 6))
    assert MIN_LIKES == 6


def test_f_tail_keeps_only_likes_outside_the_most_liked_training_movies(cold):
    r = cold.train.ratings
    counts = (
        r[r["rating"] >= LIKE]["movie_id"]
        .value_counts()
        .reindex(cold.catalogue, fill_value=0)
        .to_numpy()
    )
    head = head_movies(cold.train, 20)
    # The 20 most-liked, ties to the lower catalogue position.
    expected = sorted(range(len(counts)), key=lambda i: (-counts[i], i))[:20]
    assert head.tolist() == expected
    (f3,) = conversation_splits(cold, sizes=(3,), head=20)
    for rel, tail in zip(f3.split.relevant, f3.tail, strict=True):
        assert set(tail.tolist()) == set(rel.tolist()) - set(expected)
    assert f3.tail_label == "F3-tail"
    assert list(f3.tail_users) == [r for r, t in enumerate(f3.tail) if len(t)]


def test_without_liked_keeps_everything_but_the_named_movies(cold):
    (f3,) = conversation_splits(cold, sizes=(3,))
    bare = without_liked(f3.split)
    assert all(u.liked == () for u in bare.users)
    assert bare.relevant is f3.split.relevant and bare.exclude is f3.split.exclude
    assert [u.user_id for u in bare.users] == [u.user_id for u in f3.split.users]


def test_named_movies_are_never_recommended_and_ease_reads_them(cold):
    data = baselines.train_data(cold.train)
    ease = baselines.fit_ease(data, lam=50.0)
    for conv in conversation_splits(cold):
        top = rank_split(ease, conv.split, k=10)
        for row, ex in zip(top, conv.split.exclude, strict=True):
            assert not set(row.tolist()) & set(ex.tolist())
    # EASE fold-in answers differ once movies are named (it has nothing else to go on).
    f1, _, f5 = conversation_splits(cold)
    assert not np.array_equal(rank_split(ease, f1.split), rank_split(ease, f5.split))
    with pytest.raises(ValueError, match="stated genres alone"):
        rank_split(ease, without_liked(f1.split))


class FixedLists:
    """A method that answers with lists (as a re-ranking layer does), not scores."""

    name = "fixed"

    def __init__(self, lists: np.ndarray) -> None:
        self.lists = lists
        self.seen: list[tuple[int, ...]] = []

    def rank(self, users, exclude, k):
        start = len(self.seen)
        self.seen += [u.liked for u in users]
        return self.lists[start : start + len(users), :k]


def test_rank_split_takes_ranked_lists_and_checks_their_exclusions(cold):
    (f1,) = conversation_splits(cold, sizes=(1,))
    n = len(f1.split.users)
    safe = np.array([[m for m in range(40) if m not in ex][:10] for ex in f1.split.exclude])
    ranker = FixedLists(safe)
    np.testing.assert_array_equal(rank_split(ranker, f1.split, k=10, batch_users=3), safe)
    assert ranker.seen == [u.liked for u in f1.split.users]  # every batch, in order
    bad = safe.copy()
    bad[n - 1, 0] = f1.split.exclude[n - 1][0]
    with pytest.raises(ValueError, match="told to exclude"):
        rank_split(FixedLists(bad), f1.split, k=10)


# --------------------------------------------------------------------------- numbers


def test_measure_averages_each_user_over_seeds_and_scores_a_subset():
    relevant = [np.array([1]), np.array([2, 3]), np.array([4])]
    seed0 = np.array([[1, 9], [2, 9], [9, 8]])  # user 0 hit at rank 1, user 1 at rank 1
    seed1 = np.array([[9, 1], [9, 9], [4, 8]])  # user 0 at rank 2, user 2 at rank 1
    m = measure([seed0, seed1], relevant, n_movies=10)
    ndcg_u0 = (1.0 + 1 / np.log2(3)) / 2
    ndcg_u1 = (1 / (1 + 1 / np.log2(3))) / 2
    np.testing.assert_allclose(m.per_user["ndcg@2"], [ndcg_u0, ndcg_u1, 0.5])
    np.testing.assert_allclose(m.per_user["recall@2"], [1.0, 0.25, 0.5])
    assert m.summary["ndcg@2"] == pytest.approx(np.mean([ndcg_u0, ndcg_u1, 0.5]))
    assert m.summary["users"] == 3 and len(m.summary["per_seed"]["ndcg@2"]) == 2
    assert m.summary["coverage@2"] == pytest.approx(0.4)  # {1, 2, 8, 9} and {1, 4, 8, 9}
    sub = measure([seed0, seed1], relevant, n_movies=10, users=np.array([2]))
    assert sub.summary["users"] == 1 and sub.summary["ndcg@2"] == pytest.approx(0.5)
    one = measure([seed0], relevant, n_movies=10)
    assert "per_seed" not in one.summary  # a baseline: one run


def test_paired_bootstrap_intervals():
    rng = np.random.default_rng(1)
    b = rng.random(400)
    same = paired_bootstrap(b, b)
    assert (same.diff, same.low, same.high, same.users) == (0.0, 0.0, 0.0, 400)
    shifted = paired_bootstrap(b + 0.1, b)
    assert shifted.diff == pytest.approx(0.1) and shifted.low == pytest.approx(0.1)
    a = b + rng.normal(0.02, 0.1, 400)
    iv = paired_bootstrap(a, b)
    assert iv.low < iv.diff < iv.high and iv.high - iv.low < 0.05
    assert paired_bootstrap(a, b) == iv  # seeded
    assert paired_bootstrap(a, b, seed=2) != iv
    with_nan = paired_bootstrap(np.r_[a, np.nan], np.r_[b, 0.5])
    assert with_nan.users == 400 and with_nan.diff == pytest.approx(iv.diff)
    with pytest.raises(ValueError, match="one value per user"):
        paired_bootstrap(a, b[:10])


def test_compare_gives_the_subject_minus_each_other_method():
    relevant = [np.array([1]), np.array([2])]
    good = measure([np.array([[1], [2]])], relevant, 5)
    bad = measure([np.array([[3], [3]])], relevant, 5)
    out = compare(good, {"bad": bad}, k=1)
    assert out["bad"]["ndcg@1"]["diff"] == 1.0 and out["bad"]["recall@1"]["low"] == 1.0


# --------------------------------------------------------------------------- the runner


def test_evaluate_protocol_f_with_the_baselines(data):
    config = EvalConfig(
        protocols=("F",),
        methods=("popularity", "genre-popularity", "genre-content", "ease"),
        ease_lambda=50.0,
        progress=False,
    )
    result = evaluate_dataset(data, config)
    labels = {"F1", "F3", "F5", "F1-tail", "F3-tail", "F5-tail"}
    assert set(result["metrics"]) <= labels and {"F1", "F3", "F5"} <= set(result["metrics"])
    for label, methods in result["metrics"].items():
        # genre-content reads no named movies: not a protocol F baseline.
        assert set(methods) == {"popularity", "genre-popularity", "ease"}, label
        for m in methods.values():
            assert m["users"] == result["splits"][label]["evaluated_users"]
    assert result["intervals"] == {}  # no model, nothing to compare
    assert "F3" in format_table(result)


@pytest.mark.slow  # trains the real model twice (two seeds, a few epochs)
def test_evaluate_over_seeds_reports_means_and_intervals(data, tmp_path, capsys):
    small = replace(data, name="tiny")
    data_dir = write_csv(small, tmp_path / "tiny")
    out = tmp_path / "eval"
    argv = [
        "evaluate", "--dataset", str(data_dir), "--out", str(out), "--quiet", "--no-plots",
        "--protocols", "C,F", "--seeds", "0,1", "--models", "genre-popularity,ease,model",
        "--epochs", "2", "--ease-lambda", "50", "--set", "dim=16", "--threads", "1",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "model minus each method" in printed and "F3-tail" in printed
    saved = json.loads(next(out.glob("*.json")).read_text())
    assert saved["training_seeds"] == [0, 1] and saved["seed"] == 0
    assert [run["seed"] for run in saved["details"]["C"]["model"]["runs"]] == [0, 1]
    assert "W" not in saved["metrics"]
    # The recipe is "model"; "towers" are the trained towers' own scores, beside it.
    assert set(saved["metrics"]["C"]) == {"genre-popularity", "model", "towers"}
    f1 = {"genre-popularity", "ease", "model", "model-no-liked", "towers"}
    assert set(saved["metrics"]["F1"]) == f1
    model = saved["metrics"]["F3"]["model"]
    assert len(model["per_seed"]["ndcg@10"]) == 2
    assert model["ndcg@10"] == pytest.approx(np.mean(model["per_seed"]["ndcg@10"]))
    assert set(saved["intervals"]["F5"]) == f1 - {"model"}
    iv = saved["intervals"]["C"]["genre-popularity"]["ndcg@10"]
    assert iv["low"] <= iv["diff"] <= iv["high"]
    assert iv["users"] == saved["metrics"]["C"]["model"]["users"]
    assert iv["diff"] == pytest.approx(
        saved["metrics"]["C"]["model"]["ndcg@10"]
        - saved["metrics"]["C"]["genre-popularity"]["ndcg@10"]
    )


def test_bad_seeds_are_refused(tmp_path, capsys):
    data_dir = write_csv(synthetic_dataset(n_users=10), tmp_path / "tiny")
    argv = ["evaluate", "--dataset", str(data_dir), "--threads", "1"]
    assert main([*argv, "--seeds", "0,x"]) == 2
    assert "--seeds takes whole numbers" in capsys.readouterr().err
    assert main([*argv, "--seeds", "1,1"]) == 2
    assert "training seeds must differ" in capsys.readouterr().err


# --------------------------------------------------------------------------- the recipe


@pytest.mark.slow  # the session's small model (trained once)
def test_new_users_are_answered_by_the_preference_ranker(small_model, small_dataset):
    recipe = RankedPreferences.of(small_model, small_dataset.movies)
    ids = small_dataset.movies["movie_id"].to_numpy()
    talker = EvalUser(-1, False, ("Western",), gender="M", age=56, liked=(int(ids[20]),))
    quiet = EvalUser(-2, False, ("Western",), gender="M", age=56)
    exclude = [np.array([20, 30]), np.array([30])]
    top = recipe.rank([talker, quiet], exclude, k=5)
    for row, ex, user in zip(top, exclude, (talker, quiet), strict=True):
        assert not set(row.tolist()) & set(ex.tolist())
        request = recipe.request(user, ex, 5)
        expected = recipe.to_catalogue[recipe.ranker.rank(request).items]
        np.testing.assert_array_equal(row[: len(expected)], expected)
    genres = small_dataset.movies["genres"].to_numpy()
    assert all("Western" in genres[i] for i in top[1] if i >= 0)  # the stated genre filters
    assert recipe.request(talker, exclude[0], 5).liked == (20,)  # named, in catalogue terms
    assert recipe.request(talker, exclude[0], 5).excluded == (30,)
    with pytest.raises(ValueError, match="new users"):
        recipe.rank([EvalUser(1, True, ())], [np.zeros(0, np.int64)], 5)
