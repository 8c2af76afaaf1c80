"""The towers' item-item part: its fit, its recency weights, how it joins the trained part."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.synthetic import synthetic_dataset
from recsys.features.encoding import encode_queries
from recsys.features.queries import UserQuery
from recsys.features.space import build_feature_space
from recsys.model.blend import (
    ItemBlend,
    block_spreads,
    item_part,
    join_movies,
    join_users,
    tower_part,
)
from recsys.model.itemitem import ease_matrix, fit_factors, recency_weights
from recsys.model.query_model import load_serving_model
from recsys.model.towers import load_model, save_model
from recsys.training.config import TrainConfig
from recsys.training.fit import fit

FAST = TrainConfig().with_values(
    epochs=20, eval_every=5, patience=3, dim=16, hidden=32, item_rank=24, seed=0
)


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset(150, 90, 6_000, seed=3)


@pytest.fixture(scope="module")
def model(dataset):
    return fit(dataset, FAST, progress=False)


def _liked_matrix(fs):
    x = np.zeros((fs.n_users, fs.n_movies))
    for u in range(fs.n_users):
        items, ratings = fs.history(u)
        x[u, items[ratings >= fs.like_threshold]] = 1.0
    return x


def test_full_rank_factors_reproduce_ease(dataset):
    fs = build_feature_space(dataset)
    x = _liked_matrix(fs)
    active = np.flatnonzero(x.sum(0) > 0)
    p, q = fit_factors(fs, rank=len(active), movies=10_000, lam=50.0)
    want = ease_matrix(x[:, active].T @ x[:, active], 50.0)
    np.testing.assert_allclose((p @ q.T)[np.ix_(active, active)], want, atol=2e-4)
    unliked = np.setdiff1d(np.arange(fs.n_movies), active)
    assert not p[unliked].any() and not q[unliked].any()


def test_the_co_like_counts_are_the_same_block_by_block(dataset, monkeypatch):
    import recsys.model.itemitem as itemitem

    fs = build_feature_space(dataset)
    whole = fit_factors(fs, rank=8, movies=40, lam=50.0)
    monkeypatch.setattr(itemitem, "USERS_PER_BLOCK", 16)  # 150 users: 10 blocks
    blocks = fit_factors(fs, rank=8, movies=40, lam=50.0)
    np.testing.assert_allclose(blocks[0] @ blocks[1].T, whole[0] @ whole[1].T, atol=1e-5)


def test_the_movie_cap_keeps_the_most_liked(dataset):
    fs = build_feature_space(dataset)
    likes = _liked_matrix(fs).sum(0)
    p, q = fit_factors(fs, rank=8, movies=20, lam=50.0)
    covered = np.flatnonzero(np.abs(q).sum(1) > 0)
    assert len(covered) == 20 and p.shape == q.shape == (fs.n_movies, 8)
    assert likes[covered].min() >= np.sort(likes)[::-1][19]
    with pytest.raises(ValueError, match="positive rank"):
        fit_factors(fs, rank=0, movies=20, lam=50.0)


def test_recent_likes_weigh_more_and_stated_likes_alike():
    fs_like = 4.0
    timed = UserQuery(history=(5, 6, 7, 8), history_ratings=(5.0, 4.0, 2.0, 4.5))
    stated = UserQuery(history=(1, 2))

    class Fs:  # the two FeatureSpace fields encode_queries reads for these queries
        genres = ("Drama",)
        like_threshold = fs_like
        has_demographics = False
        occupations = ()
        movie_genres = np.ones((10, 1), dtype=np.float32)

    batch = encode_queries(Fs(), [timed, stated])
    w = recency_weights(batch, tau=2.0, floor=0.5)
    # Movie 7 was disliked; 8 is the last like, 6 has one later like, 5 two.
    np.testing.assert_allclose(
        w, [0.5 + np.exp(-1.0), 0.5 + np.exp(-0.5), 0.0, 1.5, 1.5, 1.5], rtol=1e-6
    )
    np.testing.assert_array_equal(recency_weights(batch, tau=0.0, floor=0.5), [1, 1, 0, 1, 1, 1])


def _parts(seed: int = 0, n: int = 300, d: int = 7, r: int = 5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    tower = np.concatenate([x, rng.random((n, 1))], axis=1)  # any last coordinate
    q = rng.normal(size=(n, r))
    q[: n // 4] = 0.0  # movies outside the item-item part
    return tower.astype(np.float32), q.astype(np.float32)


def test_joined_vectors_rank_like_a_blend_of_standardised_scores():
    tower_movies, q = _parts()
    d, r = tower_movies.shape[1] - 1, q.shape[1]
    movies = join_movies(tower_movies, q)
    np.testing.assert_allclose(np.linalg.norm(movies, axis=1), 1.0, atol=1e-5)
    # The trained tower's own vectors come back from the joined ones.
    back = tower_part(movies, ItemBlend(d, r, 0.0, 0.5, 1.0))
    want = tower_part(np.concatenate([tower_movies[:, :-1], q * 0], 1), ItemBlend(d, r, 0, 0.5, 1))
    np.testing.assert_allclose(back, want, atol=1e-6)
    rng = np.random.default_rng(1)
    u = rng.normal(size=(4, d)).astype(np.float32)
    users = np.concatenate([u / np.linalg.norm(u, axis=1, keepdims=True), np.zeros((4, 1))], 1)
    pooled = rng.normal(size=(4, r)).astype(np.float32)
    pooled[3] = 0.0  # no liked history
    spreads = block_spreads(movies, ItemBlend(d, r, 0.0, 0.5, 1.0))
    for share in (0.2, 0.5, 1.0):
        joined = join_users(users, pooled, spreads, share)
        np.testing.assert_allclose(np.linalg.norm(joined, axis=1), 1.0, atol=1e-5)
        got = joined @ movies.T
        a, b = users[:, :-1] @ movies[:, :d].T, pooled @ movies[:, d : d + r].T
        z = lambda s: (s - s.mean(1, keepdims=True)) / np.maximum(s.std(1, keepdims=True), 1e-12)  # noqa: E731
        want = share * z(a) + (1 - share) * z(b)
        want[3] = z(a)[3]  # nothing liked: the trained part alone
        # Per user, the joined score is a positive multiple of the blend plus a constant.
        for row in range(4):
            corr = np.corrcoef(got[row], want[row])[0, 1]
            assert corr > 1 - 1e-5


def test_the_item_part_pools_likes_through_the_input_factors():
    p = np.eye(6, 3, dtype=np.float32)  # movies 0..2 map to axes 0..2, the rest to nothing

    class Fs:
        genres = ("Drama",)
        like_threshold = 4.0
        has_demographics = False
        occupations = ()
        movie_genres = np.ones((6, 1), dtype=np.float32)

    q = UserQuery(history=(0, 1, 2, 4), history_ratings=(5.0, 5.0, 1.0, 5.0))
    batch = encode_queries(Fs(), [q, UserQuery()])
    got = item_part(p, batch, ItemBlend(2, 3, tau=1.0, floor=0.5, share=0.5))
    np.testing.assert_allclose(got[0], [0.5 + np.exp(-2.0), 0.5 + np.exp(-1.0), 0.0], rtol=1e-6)
    assert not got[1].any()


@pytest.mark.slow  # trains the model
def test_training_chooses_the_blend_on_validation_and_serving_matches_torch(model, tmp_path):
    choice = model.training["item_choice"]
    assert choice["chosen_on"] == "validation"
    cfg = model.config
    assert cfg.item_rank == 24 and cfg.item_tau == choice["tau"]
    assert cfg.item_share == choice["share"]
    assert choice["warm_val_ndcg"] >= choice["warm_val_ndcg_tower_only"]
    assert model.movie_embeddings.shape == (model.features.n_movies, 16 + 24)
    save_model(model, tmp_path)
    served = load_serving_model(tmp_path, model.movie_embeddings)
    loaded = load_model(tmp_path, model.movie_embeddings)
    fs = model.features
    queries = [served.known_user_query(int(u)) for u in fs.user_ids[:20]]
    queries.append(served.preference_query(["Drama"], liked_movie_ids=fs.movie_ids[:4].tolist()))
    got, want = served.embed_queries(queries), loaded.embed_queries(queries)
    np.testing.assert_allclose(got, want, atol=2e-6)
    # A user's likes move their answers: liking more movies changes the item-item part.
    one = served.preference_query(["Drama"], liked_movie_ids=fs.movie_ids[:1].tolist())
    none = served.preference_query(["Drama"])
    assert np.abs(served.embed_queries([one]) - served.embed_queries([none])).max() > 1e-3


@pytest.mark.slow  # trains the model
def test_a_model_without_its_item_factors_is_refused(model, tmp_path):
    from recsys.model.files import USER_TOWER_FILE, ModelError

    save_model(model, tmp_path)
    path = tmp_path / USER_TOWER_FILE
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "item_input"}
    np.savez_compressed(path, **arrays)
    with pytest.raises(ModelError, match="item_input"):
        load_serving_model(tmp_path, model.movie_embeddings)
    with pytest.raises(ModelError, match="item_input"):
        load_model(tmp_path, model.movie_embeddings)


@pytest.mark.slow  # trains the model
def test_the_item_part_can_be_left_out(dataset):
    plain = fit(dataset, FAST.with_values(item_rank=0, epochs=5), progress=False)
    assert plain.item_blend is None and plain.movie_embeddings.shape[1] == 16
    assert plain.training["item_choice"] == {}
    with pytest.raises(ValueError, match="item_rank is a rank"):
        fit(dataset, FAST.with_values(item_rank=-1), progress=False)
