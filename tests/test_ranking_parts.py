"""The ranking stage's parts on small data, without training: co-occurrence counts and
neighbours block-wise against brute force, the like index in both forms, the caps, genre
coverage, the calibrations' shape, and strict reading of stored calibrations."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from recsys.data.synthetic import synthetic_dataset
from recsys.features.space import FeatureSpace, build_feature_space
from recsys.model.artifacts import (
    Calibrations,
    KnownUserCalibration,
    ScoreCalibration,
    SimilarityCalibration,
)
from recsys.ranking import colikes, neighbours
from recsys.ranking.calibration import (
    known_user_chance,
    preference_chance,
    reliability,
    similarity_chance,
)
from recsys.ranking.colikes import (
    best_links,
    build_likes,
    co_counts,
    co_likers,
    lifts,
    rating_rows,
)
from recsys.ranking.facts import catalogue_facts
from recsys.ranking.neighbours import Content, top_neighbours
from recsys.ranking.selection import Caps, capped_top, with_coverage
from recsys.ranking.weights import weights_for


@pytest.fixture(scope="module")
def fs() -> FeatureSpace:
    return build_feature_space(synthetic_dataset(n_users=120, n_movies=110, n_ratings=4000))


def rated_matrix(fs: FeatureSpace, liked_only: bool) -> np.ndarray:
    users = np.repeat(np.arange(fs.n_users), np.diff(fs.user_indptr))
    keep = fs.user_ratings >= fs.like_threshold if liked_only else np.ones(len(users), bool)
    x = np.zeros((fs.n_users, fs.n_movies))
    x[users[keep], fs.user_items[keep]] = 1.0
    return x


def test_co_counts_from_sparse_rows_match_the_dense_product(
    fs: FeatureSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(colikes, "PAIRS_PER_CHUNK", 37)  # many chunks
    for liked_only in (False, True):
        by_movie, by_user = rating_rows(fs, liked_only)
        x = rated_matrix(fs, liked_only)
        anchors = np.array([0, 5, 17, 17, 60, fs.n_movies - 1])
        got = co_counts(anchors, by_movie, by_user, fs.n_movies)
        np.testing.assert_array_equal(got, (x[:, anchors].T @ x).astype(np.float32))


def test_neighbours_block_by_block_are_the_brute_force_top(
    fs: FeatureSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(neighbours, "BLOCK_ENTRIES", 3 * fs.n_movies)  # blocks of 3 anchors
    titles = [f"Movie {i} ({1950 + i % 50})" for i in range(fs.n_movies)]
    years = [1950 + i % 50 if i % 7 else None for i in range(fs.n_movies)]
    facts = catalogue_facts(fs, titles, years)
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(fs.n_movies, 6)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    content = Content.of(facts, dirs)
    index, blend = top_neighbours(fs, content, k=8)
    x = rated_matrix(fs, liked_only=False)
    n = x.sum(axis=0)
    g = facts.genre_matrix.astype(float)
    inter = g @ g.T
    jaccard = inter / np.maximum(g.sum(1)[:, None] + g.sum(1)[None, :] - inter, 1)
    year = content.years.astype(float)
    full = (
        (x.T @ x) / (np.sqrt(n[:, None] * n[None, :]) + 10)
        + 0.4 * jaccard
        + 0.1 * np.exp(-np.abs(year[:, None] - year[None, :]) / 10)
        + 0.1 * dirs @ dirs.T
    )
    np.fill_diagonal(full, -np.inf)
    for i in range(fs.n_movies):
        np.testing.assert_allclose(blend[i], np.sort(full[i])[::-1][:8], rtol=1e-5, atol=1e-6)
        assert i not in index[i]
        np.testing.assert_allclose(full[i, index[i]], blend[i], rtol=1e-5, atol=1e-6)


def test_the_like_index_counts_lifts_alike_in_both_forms(fs: FeatureSpace) -> None:
    exact = build_likes(fs)
    partners = build_likes(fs, exact_max=0)
    assert exact.exact and not partners.exact and len(partners.users) == 0
    x = rated_matrix(fs, liked_only=True)
    rated_users = int((np.diff(fs.user_indptr) > 0).sum())
    assert exact.n_users == partners.n_users == rated_users
    co_all = x.T @ x
    likers = x.sum(axis=0)
    movies = np.arange(fs.n_movies)
    co = co_likers(exact, movies, movies)
    np.testing.assert_array_equal(co, co_all)
    lift = lifts(exact, movies, movies, co)
    den = likers[:, None] * likers[None, :]
    np.testing.assert_allclose(
        lift, np.where(den > 0, co_all * rated_users / np.maximum(den, 1), 0)
    )
    qualifies = (co >= 5) & (lift >= 1.5)
    np.fill_diagonal(qualifies, False)
    # The partner form knows exactly the pairs that can be cited.
    np.testing.assert_array_equal(co_likers(partners, movies, movies)[qualifies], co[qualifies])
    checked = int(qualifies.sum())
    # The best link per pick: the highest qualifying lift, never the pick itself.
    liked = np.array([3, 10, 25, 40, 41])
    for pick, link in zip(movies.tolist(), best_links(exact, liked, movies), strict=True):
        ok = [x for x in liked.tolist() if x != pick and qualifies[x, pick]]
        if not ok:
            assert link is None
        else:
            assert link is not None and link[0] == max(ok, key=lambda x: lift[x, pick])
    assert checked > 20


def test_caps_hold_and_the_head_cap_gives_way_only_to_fill_the_list() -> None:
    scores = np.arange(20, 0, -1, dtype=float)  # movie 0 best
    franchise = np.full(20, -1, np.int32)
    franchise[[0, 1, 2, 3, 4]] = 7
    head = np.zeros(20, bool)
    head[5:12] = True
    caps = Caps(franchise=franchise, head=head, head_max=2)
    picks = capped_top(scores, np.ones(20, bool), 8, caps)
    assert picks == [0, 1, 2, 5, 6, 12, 13, 14]
    exempt = Caps(franchise=franchise, exempt=frozenset({7}))
    assert capped_top(scores, np.ones(20, bool), 6, exempt) == [0, 1, 2, 3, 4, 5]
    few = np.zeros(20, bool)
    few[[0, 1, 2, 3, 6, 7, 8, 9]] = True  # too few non-head movies pass: head fills the list
    assert capped_top(scores, few, 6, caps) == [0, 1, 2, 6, 7, 8]
    outside = np.zeros(20, bool)
    outside[5:] = True
    capped = Caps(franchise=franchise, outside=outside, outside_max=2)
    assert capped_top(scores, np.ones(20, bool), 6, capped) == [0, 1, 2, 5, 6]


def test_coverage_brings_each_stated_genre_to_its_minimum() -> None:
    scores = np.arange(30, 0, -1, dtype=float)
    a = np.zeros(30, bool)
    a[:20] = True
    b = np.zeros(30, bool)
    b[20:] = True
    caps = Caps(franchise=np.full(30, -1, np.int32))
    picks = capped_top(scores, np.ones(30, bool), 10, caps)
    assert not b[picks].any()
    covered = with_coverage(picks, scores, np.ones(30, bool), [a, b], 10, caps)
    assert b[covered].sum() == 10 // 4 and a[covered].sum() == 8
    assert covered == sorted(covered)  # still best first
    assert covered[-2:] == [20, 21]  # the best of genre b replaced the lowest of genre a


def test_calibrated_chances_lie_in_0_1_and_never_rise_down_a_list() -> None:
    rng = np.random.default_rng(1)
    pref = ScoreCalibration(bias=-1.0, score=0.3, n_liked=-0.2, rank=-0.3, head=0.6)
    scores = np.sort(rng.normal(size=10))[::-1]
    head = rng.random(10) < 0.5
    for n in (0, 1, 5):
        p = preference_chance(pref, scores, n, head)
        assert ((p >= 0) & (p <= 1)).all() and (np.diff(p) <= 0).all()
    sim = SimilarityCalibration(
        bias=-2.5, support=0.01, inverse_root=-1.4, slope_bias=0.4, slope_support=0.07
    )
    blend = np.linspace(1.2, 0.1, 30)
    for ratings in (0, 1, 10, 300, 10_000):
        p = similarity_chance(sim, blend, ratings)
        assert ((p > 0) & (p < 1)).all() and (np.diff(p) < 0).all()  # monotone in the blend
    known = KnownUserCalibration(bias=-2.0, z=0.5, rank=-0.3, history=0.1)
    p = known_user_chance(known, np.linspace(3, 1, 10), 120)
    assert ((p > 0) & (p < 1)).all() and (np.diff(p) <= 0).all()


def test_reliability_bins_and_expected_calibration_error() -> None:
    p = np.array([0.05, 0.05, 0.95, 0.95])
    r = reliability(p, np.array([0, 0, 1, 1]))
    assert r.ece == pytest.approx(0.05) and [b.count for b in r.bins] == [2, 2]
    assert reliability(np.full(4, 0.5), np.array([1, 0, 1, 0])).ece == pytest.approx(0.0)


def test_stored_calibrations_are_read_strictly() -> None:
    stored = asdict(
        Calibrations(
            ScoreCalibration(0, 1, 0, -1, 0),
            SimilarityCalibration(0, 0, 0, 0, 0),
            KnownUserCalibration(0, 1, -1, 0),
            "validation",
        )
    )
    assert Calibrations.from_stored(stored).preferences.score == 1
    for broken, message in [
        ({**stored, "preferences": {**stored["preferences"], "extra": 1}}, "unknown extra"),
        ({**stored, "similarity": {"bias": 0}}, "missing"),
        ({**stored, "known_users": {**stored["known_users"], "z": "1"}}, "must be a number"),
        ({**stored, "known_users": {**stored["known_users"], "z": True}}, "must be a number"),
        ({**stored, "fitted_on": "guess"}, "validation or fallback"),
        ({k: v for k, v in stored.items() if k != "similarity"}, "must hold"),
    ]:
        with pytest.raises(ValueError, match=message):
            Calibrations.from_stored(broken)


def test_weights_by_liked_movies_and_the_head_cap_for_other_lengths() -> None:
    assert weights_for(0).head_cap is None and weights_for(0).cap_for(10) == 10
    assert weights_for(1).cap_for(10) == 8 and weights_for(1).cap_for(5) == 4
    assert weights_for(2) == weights_for(3) and weights_for(4) == weights_for(9)
    assert weights_for(5).cap_for(10) == 9 and weights_for(5).cap_for(20) == 18


def test_the_head_is_the_most_liked_and_small_catalogues_are_not_all_head(
    fs: FeatureSpace,
) -> None:
    facts = catalogue_facts(fs, [f"M {i}" for i in range(fs.n_movies)], [None] * fs.n_movies)
    assert facts.head.sum() == fs.n_movies // 10
    assert facts.liked_counts[facts.head].min() >= facts.liked_counts[~facts.head].max()
    assert np.isnan(facts.years).all() and (0 <= facts.lpop).all() and facts.lpop.max() == 1


def test_the_similarity_fit_weighs_each_doubling_of_anchor_ratings_alike() -> None:
    from recsys.training.calibrate import Rows, fit_coefficients, linear, support_balance

    ratings = np.array([1, 1, 2, 3, 3, 3, 3, 200, 300, 400, 500, 600] * 5, dtype=np.float64)
    weight = support_balance(ratings)
    band = np.floor(np.log2(1 + ratings)).astype(int)
    totals = [weight[band == b].sum() for b in np.unique(band)]
    assert totals == pytest.approx([totals[0]] * len(totals))
    # A bias-only fit lands on the weighted like rate, not the row count's.
    liked = (ratings < 100).astype(np.float64)
    rows = Rows(np.ones((len(ratings), 1)), liked, np.arange(len(ratings)), weight)
    (bias,) = fit_coefficients(rows, linear, 1)
    rate = float((weight * liked).sum() / weight.sum())
    assert 1 / (1 + np.exp(-bias)) == pytest.approx(rate, abs=1e-3)
    assert abs(rate - liked.mean()) > 0.1
