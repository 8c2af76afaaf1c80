"""Stated genres: the over-represented genres of a user's likes."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.features.taste import catalogue_genre_share, stated_genres

NAMES = ("Drama", "Horror", "Comedy", "War")


def catalogue() -> np.ndarray:
    # 10 movies: Drama is everywhere, Horror and War are rare, Comedy in between.
    g = np.zeros((10, 4), dtype=np.float32)
    g[:8, 0] = 1  # Drama on movies 0-7
    g[8, 1] = 1  # Horror on movie 8
    g[[2, 3, 4, 9], 2] = 1  # Comedy on 4 movies
    g[[5, 9], 3] = 1  # War on movies 5 and 9
    return g


def test_catalogue_share_is_the_share_of_movies_per_genre():
    np.testing.assert_allclose(catalogue_genre_share(catalogue()), [0.8, 0.1, 0.4, 0.2])


def test_over_represented_genre_beats_the_common_one():
    # Liked: 3 dramas + the horror film. Drama is 3/4 of the likes but 8/10 of the
    # catalogue (lift 0.94); Horror is 1/4 of the likes and 1/10 of the catalogue (2.5).
    got = stated_genres(catalogue(), [0, 1, 6, 8], NAMES, n=3)
    assert got == ("Horror", "Drama")  # Comedy / War never liked: not stated


def test_ranking_by_lift_and_n_limit():
    # Liked 2, 3, 5: Drama 3/3 / 0.8 = 1.25, Comedy 2/3 / 0.4 = 1.67, War 1/3 / 0.2 = 1.67.
    # Comedy and War tie on lift; Comedy has more support, so it comes first.
    assert stated_genres(catalogue(), [2, 3, 5], NAMES, n=3) == ("Comedy", "War", "Drama")
    assert stated_genres(catalogue(), [2, 3, 5], NAMES, n=1) == ("Comedy",)


def test_equal_lift_and_support_fall_back_to_column_order():
    g = np.eye(4, dtype=np.float32)
    assert stated_genres(g, [1, 3], NAMES, n=2) == ("Horror", "War")


def test_min_support_filters_one_off_genres():
    liked = [0, 1, 2, 3, 4, 6, 7, 8, 9]  # 9 likes; Horror and War appear once each
    assert "Horror" in stated_genres(catalogue(), liked, NAMES, min_support=1)
    strict = stated_genres(catalogue(), liked, NAMES, min_support=2)
    assert "Horror" not in strict and "War" not in strict
    assert strict == ("Comedy", "Drama")
    # Default support: one in ten likes -> 1 for nine likes, 2 for eleven.
    assert "Horror" in stated_genres(catalogue(), liked, NAMES)
    liked_11 = np.r_[np.array(liked), [0, 1]]  # duplicates are ignored: still 9 movies
    assert stated_genres(catalogue(), liked_11, NAMES) == stated_genres(catalogue(), liked, NAMES)


def test_default_support_grows_with_the_number_of_likes():
    g = np.zeros((30, 2), dtype=np.float32)
    g[:, 0] = 1
    g[0, 1] = 1  # one film carries the rare genre
    names = ("Drama", "Horror")
    assert stated_genres(g, range(10), names) == ("Horror", "Drama")
    assert stated_genres(g, range(11), names) == ("Drama",)  # 1 < ceil(11 / 10)


def test_precomputed_catalogue_share_gives_the_same_answer():
    g = catalogue()
    share = catalogue_genre_share(g)
    for liked in ([0, 8], [2, 3, 5], [9]):
        assert stated_genres(g, liked, NAMES, catalogue_share=share) == stated_genres(
            g, liked, NAMES
        )


def test_nothing_liked_states_nothing():
    assert stated_genres(catalogue(), [], NAMES) == ()
    assert stated_genres(catalogue(), [4], NAMES, n=0) == ()


def test_bad_input_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="must lie in"):
        stated_genres(catalogue(), [10], NAMES)
    with pytest.raises(ValueError, match="3 genre names"):
        stated_genres(catalogue(), [0], NAMES[:3])
