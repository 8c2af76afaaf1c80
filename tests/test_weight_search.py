"""The validation search of the preference score's weights and head caps
(`recsys.evaluation.weight_search`, run by bench/choose_ranking.py)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.evaluation import baselines, weight_search
from recsys.evaluation.weight_search import Setting, Users, choose, grid, lists, validate
from recsys.ranking.facts import catalogue_facts
from recsys.training.validation import Validation

N_MOVIES = 30


def users(
    z0: np.ndarray, zt: np.ndarray, relevant: list[list[int]], head: list[int], ease_tail: float
) -> Users:
    """Users whose terms are z0 and zt, with no genre or popularity signal."""
    n = len(relevant)
    terms = np.zeros((n, N_MOVIES, 4), dtype=np.float32)
    terms[:, :, 0], terms[:, :, 1] = z0, zt
    is_head = np.zeros(N_MOVIES, dtype=bool)
    is_head[head] = True
    rel = tuple(np.array(r, dtype=np.int64) for r in relevant)
    return Users(
        terms=terms,
        allowed=np.ones((n, N_MOVIES), dtype=bool),
        relevant=rel,
        tail=tuple(r[~is_head[r]] for r in rel),
        head=is_head,
        ease_tail=ease_tail,
    )


def test_the_grid_is_the_documented_one():
    assert len(grid(0)) == 6 * 4 * 6 and {s.head_cap for s in grid(0)} == {None}
    assert len(grid(1)) == 3 * 6 * 4 * 6
    assert grid(1)[0] == Setting((0.0, 1.5, 0.4, 0.3), 9)  # head cap outermost, then a, b, c
    assert grid(3)[-1] == Setting((2.5, 1.5, 1.5, 2.5), 7)


def test_lists_follow_the_weights_and_the_head_cap():
    ramp = np.arange(N_MOVIES, dtype=np.float32)
    u = users(ramp[None, :], -ramp[None, :], [[29]], head=list(range(20, 30)), ease_tail=0.0)
    by_z0 = lists(u, Setting((1.0, 0.0, 0.0, 0.0), None))
    assert by_z0[0].tolist() == list(range(29, 19, -1))  # all ten from the head
    capped = lists(u, Setting((1.0, 0.0, 0.0, 0.0), 7))
    assert capped[0].tolist() == [29, 28, 27, 26, 25, 24, 23, 19, 18, 17]
    by_zt = lists(u, Setting((0.0, 1.0, 0.0, 0.0), None))
    assert by_zt[0].tolist() == list(range(10))


def test_choose_prefers_feasible_settings_then_the_best_mean_ndcg():
    ramp = np.arange(N_MOVIES, dtype=np.float32)
    # z0 finds the head likes (high NDCG, no tail); zt finds the tail like (lower NDCG).
    u = users(ramp[None, :], -ramp[None, :], [[29, 28, 0]], head=[28, 29], ease_tail=0.5)
    data = {"one": {1: [u]}, "two": {1: [u]}}
    (c,) = choose(data, sizes=(1,))
    assert c.tail_constraint_met  # only settings that reach the tail qualify
    assert c.validation["one"][1] >= 0.5
    ndcg, tail, ease = validate([u], c.setting)
    assert (ndcg, tail, ease) == c.validation["two"]
    easy = users(ramp[None, :], -ramp[None, :], [[29, 28, 0]], head=[28, 29], ease_tail=2.0)
    (none,) = choose({"one": {1: [easy]}}, sizes=(1,))
    assert not none.tail_constraint_met  # nothing beats EASE: the best NDCG, said so
    assert validate([easy], none.setting)[0] == pytest.approx(
        max(validate([easy], s)[0] for s in grid(1))
    )


def test_validate_averages_over_seeds():
    ramp = np.arange(N_MOVIES, dtype=np.float32)
    a = users(ramp[None, :], ramp[None, :], [[29]], head=[], ease_tail=0.1)
    b = users(ramp[None, :], ramp[None, :], [[0]], head=[], ease_tail=0.3)
    s = Setting((1.0, 1.5, 0.4, 0.3), None)
    ndcg, tail, ease = validate([a, b], s)
    assert ndcg == pytest.approx(0.5) and tail == pytest.approx(0.5)
    assert ease == pytest.approx(0.2)


@pytest.mark.slow  # the session's small model
def test_validation_users_are_ranked_from_their_earliest_likes(small_model, small_dataset):
    fs = small_model.features
    ids = small_dataset.movies["movie_id"].to_numpy()
    facts = catalogue_facts(fs, [str(t) for t in small_dataset.movies["title"]], ids * 0 + 2000)
    r = small_dataset.ratings.sort_values(["user_id", "timestamp", "movie_id"])
    liked = r[r["rating"] >= 4].groupby("user_id", sort=True)["movie_id"].apply(list)
    chosen = [u for u in liked.index if len(liked[u]) >= 8][:6]
    queries, relevant = [], []
    for u in chosen:
        idx = np.array([fs.movie_index(m) for m in liked[u]])
        queries.append(fs.known_user_query(fs.user_index(u)))
        relevant.append(idx)
    queries.append(queries[0])  # the same person with only 4 likes: too few to name any
    relevant.append(relevant[0][:4])
    validation = Validation(queries, [np.zeros(0, np.int64)] * 7, relevant, n_cold=7)
    ease = baselines.fit_ease(baselines.train_data(small_dataset), 50.0)
    out = weight_search.from_validation(small_model, facts, validation, ease)
    assert len(out[0].relevant) == 7 and len(out[3].relevant) == 6  # N >= 1: 6+ likes
    for n in (1, 3, 5):
        u = out[n]
        for row, rel, likes in zip(u.allowed, u.relevant, relevant, strict=False):
            assert not row[likes[:n]].any()  # the named movies are never listed
            assert set(rel.tolist()) == set(likes[n:].tolist())
        assert 0.0 <= u.ease_tail <= 1.0
    zt_differs = not np.allclose(out[1].terms[:, :, 1], out[1].terms[:, :, 0])
    assert zt_differs and np.allclose(out[0].terms[:, :, 1], out[0].terms[:, :, 0])
