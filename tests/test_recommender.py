"""The Recommender on a bundle built from a real (tiny) trained model.

The small bundle of tests/conftest.py: `recsys.data.synthetic.synthetic_dataset()`,
90 movies (the named ones first, then one genre group each) and 60 users whose
gender and age plant a taste for two genres (`planted_genres`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import raw_lift

from recsys.data.dataset import Dataset
from recsys.data.synthetic import (
    HEAT_1986,
    HEAT_1995,
    LOST_CHILDREN,
    MATRIX,
    MISERABLES,
    PLANTED,
    TOY_STORY,
    UNDATED,
    UNRATED,
    planted_genres,
)
from recsys.data.vocab import AGE_BUCKETS
from recsys.serving.errors import (
    AmbiguousMovieError,
    InvalidArgumentError,
    MovieNotFoundError,
    UnknownGenreError,
    UnknownUserError,
)
from recsys.serving.filters import Filters
from recsys.serving.recommender import Recommender

pytestmark = pytest.mark.slow  # on the small models


@pytest.fixture(scope="module")
def rec(small_bundle: Path) -> Recommender:
    return Recommender.load(small_bundle)


@pytest.fixture(scope="module")
def rec_nodemo(nodemo_bundle: Path) -> Recommender:
    return Recommender.load(nodemo_bundle)


def taste(dataset: Dataset, user_id: int) -> tuple[str, str]:
    user = dataset.users.set_index("user_id").loc[user_id]
    return planted_genres(user["gender"], user["age"])


def dense(rec: Recommender, movie_id: int) -> int:
    return rec.bundle.model.features.movie_index(movie_id)


def model_scores(rec: Recommender, query) -> np.ndarray:
    return rec.bundle.model.score([query])[0]


def assert_well_formed(items, k: int) -> None:
    assert [it.rank for it in items] == list(range(1, len(items) + 1))
    assert len(items) == k
    # One number per list: the chance of liking it, or (similar movies) the similarity.
    scores = [it.similarity if it.score is None else it.score for it in items]
    assert all(s is not None and 0 <= s <= 1 for s in scores)
    assert all(a >= b for a, b in zip(scores, scores[1:], strict=False))
    assert len({it.movie_id for it in items}) == len(items)
    assert all(it.reason for it in items)


# --------------------------------------------------------------------------- known users


def test_for_user_ranks_unseen_movies_by_model_score(rec: Recommender) -> None:
    model = rec.bundle.model
    res = rec.for_user(7, k=8)
    assert_well_formed(res.items, 8)
    seen, _ = model.user_history(7)
    scores = model_scores(rec, model.known_user_query(7))
    masked = scores.copy()
    masked[seen] = -np.inf
    want = set(model.features.movie_ids[np.argsort(-masked)[:8]].tolist())
    assert {it.movie_id for it in res.items} == want
    # score: the calibrated chance, from each pick's score standardised over the catalogue.
    c = model.ranking.calibrations.known_users
    z = (scores - scores.mean()) / scores.std()
    picks = [dense(rec, it.movie_id) for it in res.items]
    logit = (
        c.bias + c.z * z[picks] + c.rank * np.log1p(np.arange(8)) + c.history * np.log1p(len(seen))
    )
    want_chance = np.minimum.accumulate(1 / (1 + np.exp(-logit)))
    np.testing.assert_allclose([it.score for it in res.items], want_chance, atol=2e-4)


def test_for_user_profile_and_reasons(rec: Recommender, small_dataset: Dataset) -> None:
    res = rec.for_user(7, k=5)
    user = res.user
    known = small_dataset.users.set_index("user_id").loc[7]
    assert user.user_id == 7 and user.gender == known["gender"]
    assert user.age == AGE_BUCKETS[known["age"]] and user.occupation == known["occupation"]
    assert user.n_ratings == len(rec.bundle.model.user_history(7)[0])
    assert set(user.favourite_genres) & set(taste(small_dataset, 7))
    liked_titles = {
        rec.movie(int(rec.bundle.model.features.movie_ids[i])).title
        for i, r in zip(*rec.bundle.model.user_history(7), strict=True)
        if r >= 4
    }
    items, ratings = rec.bundle.model.user_history(7)
    liked = [int(rec.bundle.model.features.movie_ids[i]) for i in items[ratings >= 4]]
    for it in res.items:
        # The best co-like link from the user's likes, counted here from the raw ratings.
        links = [
            (raw_lift(small_dataset.ratings, x, it.movie_id), x) for x in liked if x != it.movie_id
        ]
        true = [(lift, x) for (lift, co), x in links if lift >= 1.5 and co >= 5]
        if it.reason.startswith("Because you liked"):
            best = max(true)[1]
            assert f"Because you liked {rec.movie(best).title}:" in it.reason
        else:
            assert not true, "a true link was left unsaid"
            assert it.reason.startswith(("Matches your favourite genres", "Close to your"))
    assert liked_titles


def test_for_user_learns_each_users_taste(rec: Recommender, small_dataset: Dataset) -> None:
    in_group, chance = [], []
    movie_genres = small_dataset.movies.set_index("movie_id")["genres"]
    for user_id in small_dataset.users["user_id"].tolist():
        group = set(taste(small_dataset, user_id))
        in_group += [bool(group & set(it.genres)) for it in rec.for_user(user_id, k=5).items]
        seen = small_dataset.ratings.loc[small_dataset.ratings["user_id"] == user_id, "movie_id"]
        unseen = movie_genres.drop(seen)
        chance.append(np.mean([bool(group & set(genres)) for genres in unseen]))
    # Users have rated most movies of their taste; a tenth of the rest is in it.
    assert np.mean(in_group) >= max(0.4, 4 * np.mean(chance))


def test_exclude_seen_false_may_return_seen(rec: Recommender) -> None:
    seen = set(rec.bundle.model.user_history(7)[0].tolist())
    res = rec.for_user(7, k=10, exclude_seen=False)
    assert any(dense(rec, it.movie_id) in seen for it in res.items)


def test_unknown_user(rec: Recommender) -> None:
    assert rec.user_id_range() == (1, 60)
    with pytest.raises(UnknownUserError, match=r"1\.\.60"):
        rec.for_user(999)
    with pytest.raises(InvalidArgumentError):
        rec.for_user("7")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- filters


def test_filters_hold_and_still_fill_k(rec: Recommender, small_dataset: Dataset) -> None:
    movies = small_dataset.movies
    wanted = {"Horror", "Comedy", "Crime"}
    passing = movies[
        movies["genres"].map(lambda g: bool(wanted & set(g)) and "Romance" not in g)
        & movies["year"].between(1945, 2015)
    ]
    dropped = frozenset(passing["movie_id"].iloc[:2].tolist())  # two that pass the rest
    f = Filters(
        genres=tuple(sorted(wanted)),
        exclude_genres=("Romance",),
        year_min=1945,
        year_max=2015,
        exclude_movie_ids=dropped,
    )
    for items in (
        rec.for_user(2, k=4, filters=f).items,
        rec.for_preferences(["Comedy"], k=4, filters=f).items,
        rec.similar_movies(MATRIX, k=4, filters=f).items,
    ):
        assert len(items) == 4
        for it in items:
            assert set(it.genres) & wanted
            assert "Romance" not in it.genres
            assert 1945 <= it.year <= 2015
            assert it.movie_id not in dropped


def test_filter_is_applied_before_the_cut(rec: Recommender) -> None:
    # The only Documentary is never rated and ranks low, yet a Documentary filter finds it.
    res = rec.for_user(3, k=3, filters=Filters(genres=("documentary",)))
    assert [it.movie_id for it in res.items] == [UNRATED]
    assert res.note is not None and "Only 1 of the 3" in res.note
    # Stated alone, the rare genre gives what it has and says so.
    res = rec.for_preferences(["docs"], k=3)
    assert [it.movie_id for it in res.items] == [UNRATED]
    assert res.note is not None and "Only 1 of the 3" in res.note and "Documentary" in res.note


def test_filter_leaving_nothing_names_it(rec: Recommender) -> None:
    res = rec.similar_movies(1, k=5, filters=Filters(year_min=2100))
    assert res.items == ()
    assert "year from 2100" in res.note
    res = rec.for_user(3, k=5, filters=Filters(genres=("Horror",), exclude_genres=("Horror",)))
    assert res.items == () and "together" in res.note


def test_filter_validation(rec: Recommender) -> None:
    with pytest.raises(InvalidArgumentError, match="year_min"):
        rec.for_user(1, filters=Filters(year_min=2000, year_max=1990))
    with pytest.raises(UnknownGenreError, match="Sci-Fi"):
        rec.for_user(1, filters=Filters(genres=("scifu",)))
    for k in (0, 101, 2.5):
        with pytest.raises(InvalidArgumentError, match="k must be"):
            rec.similar_movies(1, k=k)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- preferences


def test_preferences_follow_stated_genres(rec: Recommender) -> None:
    for genre in sorted({g for pair in PLANTED.values() for g in pair}):
        res = rec.for_preferences([genre.lower()], k=5)
        assert res.interpreted.genres == (genre,) and res.interpreted.genre_groups == ((genre,),)
        assert_well_formed(res.items, 5)
        assert all(genre in it.genres for it in res.items), genre
        assert all(0 <= it.score <= 1 for it in res.items)


def test_a_word_naming_two_genres_needs_both(rec: Recommender) -> None:
    res = rec.for_preferences(["rom-com"], k=5)
    assert res.interpreted.genre_groups == (("Romance", "Comedy"),)
    assert res.interpreted.genres == ("Romance", "Comedy")
    # No synthetic movie is both (their genres come in planted pairs): none is listed, and
    # the note names the group that empties the list.
    assert res.items == () and "genres Romance+Comedy matches no" in (res.note or "")
    assert rec.for_preferences(["romance"], k=5).items
    # The same word as a filter of another tool: both genres, or nothing.
    res_user = rec.for_user(3, k=5, filters=Filters(genres=("romcom",)))
    assert res_user.items == () and "Romance+Comedy" in (res_user.note or "")
    with pytest.raises(UnknownGenreError, match="Action, Adventure or Sci-Fi"):
        rec.for_preferences(["superhero"])


def test_preferences_are_the_rankers_list_with_its_chances(rec: Recommender) -> None:
    from recsys.ranking.requests import PreferenceRequest

    res = rec.for_preferences(["Comedy"], age=30, gender="female", k=5)
    ranked = rec._rankers.preferences.rank(
        PreferenceRequest(genres=(("Comedy",),), gender="F", age=25, k=5)
    )
    assert [it.movie_id for it in res.items] == [
        int(rec.bundle.model.features.movie_ids[i]) for i in ranked.items
    ]
    np.testing.assert_allclose([it.score for it in res.items], ranked.chance, atol=1e-4)


def test_disliked_and_excluded_movies_are_never_listed(rec: Recommender) -> None:
    first = rec.for_preferences(["Action"], k=6).items
    liked, disliked, seen = first[0].movie_id, first[1].movie_id, first[2].movie_id
    res = rec.for_preferences(
        ["Action"], liked_movies=[liked], disliked_movies=[disliked], exclude_movies=[seen], k=6
    )
    assert not {liked, disliked, seen} & {it.movie_id for it in res.items}
    assert [m.movie_id for m in res.interpreted.disliked_movies] == [disliked]
    assert [m.movie_id for m in res.interpreted.excluded_movies] == [seen]
    with pytest.raises(InvalidArgumentError, match="both liked and disliked"):
        rec.for_preferences(["Action"], liked_movies=[liked], disliked_movies=[liked])


def test_liked_movies_elsewhere_widen_the_list_and_say_so(rec: Recommender) -> None:
    movies = rec.bundle.movies
    romance = movies[movies["genres"].map(lambda g: "Romance" in g and "War" not in g)]
    liked = romance["movie_id"].iloc[:3].tolist()
    res = rec.for_preferences(["War"], liked_movies=liked, k=10)
    assert res.note is not None and "also admits their genres" in res.note
    assert "Romance" in res.interpreted.admitted_genres
    outside = [it for it in res.items if "War" not in it.genres]
    assert 0 < len(outside) <= 5
    plain = rec.for_preferences(["War"], k=10)
    assert plain.note is None or "admits" not in plain.note


def test_a_childs_age_without_a_childrens_genre_gets_a_note(
    rec: Recommender, rec_nodemo: Recommender
) -> None:
    res = rec.for_preferences(["Action"], age=7, k=3)
    assert res.note is not None and "Children or Animation" in res.note
    # A model that reads no ages says it too.
    assert "Children or Animation" in (rec_nodemo.for_preferences(["Action"], age=7).note or "")
    assert "Children or Animation" not in (
        rec.for_preferences(["Animation"], age=7, k=3).note or ""
    )
    assert "Children or Animation" not in (rec.for_preferences(["Action"], age=30, k=3).note or "")


def test_preferences_interpret_demographics(rec: Recommender) -> None:
    res = rec.for_preferences(
        ["science fiction"], age=34, occupation="high school teacher", gender="Man", k=3
    )
    it = res.interpreted
    assert it.genres == ("Sci-Fi",)
    assert it.age == 34 and it.age_bucket == "25-34"
    assert it.gender == "M"
    assert it.occupation == "academic/educator"
    assert res.demographics_used and it.ignored == ()
    res = rec.for_preferences(["Drama"], occupation="astronaut", gender="robot", k=3)
    assert res.interpreted.occupation is None and res.interpreted.gender is None
    assert any("astronaut" in why for why in res.interpreted.ignored)
    assert any("robot" in why for why in res.interpreted.ignored)
    for bad in (0, 121, 30.5):
        with pytest.raises(InvalidArgumentError, match="age"):
            rec.for_preferences(["Drama"], age=bad)  # type: ignore[arg-type]


def test_preferences_without_demographics_say_so(rec_nodemo: Recommender) -> None:
    assert rec_nodemo.has_demographics is False and rec_nodemo.occupations == ()
    res = rec_nodemo.for_preferences(["Drama"], age=34, occupation="programmer", gender="F", k=3)
    assert res.demographics_used is False
    assert res.interpreted.age_bucket is None and res.interpreted.gender is None
    ignored = " | ".join(res.interpreted.ignored)
    assert "age 34" in ignored and "programmer" in ignored and "gender" in ignored
    assert "without demographics" in ignored
    assert len(res.items) == 3


def test_unknown_genre_suggests_closest(rec: Recommender) -> None:
    with pytest.raises(UnknownGenreError) as err:
        rec.for_preferences(["Horrer"])
    assert "Horror" in str(err.value) and "Western" in str(err.value)
    assert rec.canonical_genres(["kids", "Sci Fi", "sci-fi"]) == ("Children", "Sci-Fi")


def test_liked_movies_are_history_and_excluded(rec: Recommender) -> None:
    res = rec.for_preferences([], liked_movies=["The Matrix", HEAT_1995], k=6)
    liked = res.interpreted.liked_movies
    assert [m.title for m in liked] == ["The Matrix (1999)", "Heat (1995)"]
    assert [m.dataset_title for m in liked] == ["Matrix, The (1999)", "Heat (1995)"]
    assert not {MATRIX, HEAT_1995} & {it.movie_id for it in res.items}
    for it in res.items:
        if it.reason.startswith("Because you liked"):
            assert "The Matrix (1999)" in it.reason or "Heat (1995)" in it.reason
    with pytest.raises(AmbiguousMovieError) as err:
        rec.for_preferences(["Drama"], liked_movies=["Heat"])
    assert {c.movie_id for c in err.value.candidates} == {HEAT_1995, HEAT_1986}


def test_empty_preferences_get_a_note(rec_nodemo: Recommender) -> None:
    res = rec_nodemo.for_preferences([], k=3)
    assert len(res.items) == 3 and "No usable preferences" in res.note


# --------------------------------------------------------------------------- similar, search


def test_similar_movies_are_the_stored_neighbours_with_calibrated_similarity(
    rec: Recommender,
) -> None:
    from recsys.ranking.calibration import similarity_chance

    model = rec.bundle.model
    res = rec.similar_movies("Heat 1995", k=6)
    assert res.movie.movie_id == HEAT_1995
    assert_well_formed(res.items, 6)
    heat = dense(rec, HEAT_1995)
    stored = model.ranking.neighbours.index[heat]
    assert [dense(rec, it.movie_id) for it in res.items] == stored[:6].tolist()
    blend = model.ranking.neighbours.similarity[heat, :6].astype(float)
    ratings = int(model.features.movie_counts[heat])
    want = similarity_chance(model.ranking.calibrations.similarity, blend, ratings)
    np.testing.assert_allclose([it.similarity for it in res.items], want, atol=1e-4)
    assert all(0 <= it.similarity <= 1 for it in res.items)
    assert all("Heat (1995)" in it.reason for it in res.items)


def test_search_and_resolve(rec: Recommender) -> None:
    assert rec.search("matrix")[0].title == "The Matrix (1999)"
    assert rec.resolve_movie("Les Miserables").movie_id == MISERABLES
    assert rec.resolve_movie("cite des enfants perdus").movie_id == LOST_CHILDREN
    assert rec.resolve_movie(TOY_STORY).title == "Toy Story (1995)"
    assert rec.resolve_movie(str(TOY_STORY)).title == "Toy Story (1995)"
    hits = rec.search("heat", k=5, filters=Filters(year_max=1990))
    assert [h.movie_id for h in hits] == [HEAT_1986]
    closest = rf"Closest titles: The Matrix \(1999\) \(id {MATRIX}\)"
    with pytest.raises(MovieNotFoundError, match=closest):
        rec.resolve_movie("The Matrx Reloaded Extended")
    last = int(rec.bundle.movies["year"].max())
    with pytest.raises(MovieNotFoundError, match=f"movies go up to {last}: a film from after"):
        rec.for_preferences(["Drama"], liked_movies=["Zzyzx Qwerty Returns"])
    with pytest.raises(AmbiguousMovieError, match=f"movies go up to {last}"):
        rec.resolve_movie("Synthetic Movie")  # only near spellings
    with pytest.raises(AmbiguousMovieError) as exact:
        rec.resolve_movie("Heat")  # two films of that very title: the year is no news
    assert "go up to" not in str(exact.value)
    # A year past the catalogue's end: that film is not here, whatever else bears its title.
    with pytest.raises(
        MovieNotFoundError, match=f"No movie from {last + 3} .*go up to {last}"
    ) as newer:
        rec.resolve_movie(f"Heat {last + 3}")
    assert "Heat (1995)" in str(newer.value) and "Heat (1986)" in str(newer.value)
    assert rec.resolve_movie("Heat 1995").movie_id == HEAT_1995
    with pytest.raises(MovieNotFoundError, match="No movie has id 9999"):
        rec.movie(9999)
    with pytest.raises(InvalidArgumentError):
        rec.search("   ")


def test_movie_details(rec: Recommender) -> None:
    info = rec.movie(HEAT_1995)
    assert (info.title, info.year, info.genres) == (
        "Heat (1995)",
        1995,
        ("Action", "Crime", "Thriller"),
    )
    assert info.n_ratings > 0 and 1.0 <= info.mean_rating <= 5.0
    unrated = rec.movie(UNRATED)
    assert unrated.n_ratings == 0 and unrated.mean_rating is None
    undated = rec.movie(UNDATED)
    assert undated.year is None and undated.title == "Undated Home Movie"
    assert rec.resolve_movie("undated home movie").movie_id == UNDATED


def test_model_card(rec: Recommender) -> None:
    card = rec.model_card()
    assert card["dataset"] == "synthetic" and card["n_movies"] == 90 and card["n_users"] == 60
    # dim 16 for the trained part, plus the default rank-128 item-item part
    assert card["has_demographics"] is True and card["embedding_dim"] == 16 + 128
    assert card["user_id_range"] == [1, 60] and card["bundle_bytes"] > 0
    assert "created_at" in card and "evaluation" in card


def test_concurrent_calls_match_sequential(rec: Recommender) -> None:
    calls = [
        lambda: rec.for_user(5, k=5).items,
        lambda: rec.for_preferences(["Horror"], age=40, k=5).items,
        lambda: rec.similar_movies(1, k=5).items,
        lambda: rec.search("heat"),
    ]
    expected = [c() for c in calls]
    results: list = [None] * 40
    errors: list = []

    def work(slot: int) -> None:
        try:
            results[slot] = calls[slot % len(calls)]()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(results[i] == expected[i % len(calls)] for i in range(40))


def test_load_refuses_a_broken_bundle(bundle_copy: Path) -> None:
    from recsys.bundle.manifest import BundleError

    (bundle_copy / "users.csv").write_text("user_id\n1\n")
    with pytest.raises(BundleError, match="users.csv"):
        Recommender.load(bundle_copy)
