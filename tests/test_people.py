"""People known by their own ratings (recsys.serving.people and Recommender.for_person /
for_group), on the small model; and protocol W run through real stored profiles.

The central promise: a person whose profile holds a dataset user's training ratings, in
the user's time order, gets exactly that user's list, because both go through one path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data.dataset import Dataset
from recsys.data.synthetic import AGE_YEARS, HEAT_1986, HEAT_1995, MATRIX, synthetic_dataset
from recsys.serving.errors import InvalidArgumentError, MovieNotFoundError
from recsys.serving.filters import NO_FILTERS, Filters
from recsys.serving.people import Person, group_scores, match_movie
from recsys.serving.recommender import Recommender

pytestmark = pytest.mark.slow  # trains (once per session) or loads the small models


@pytest.fixture(scope="module")
def rec(small_bundle: Path) -> Recommender:
    return Recommender.load(small_bundle)


@pytest.fixture(scope="module")
def nodemo(nodemo_bundle: Path) -> Recommender:
    return Recommender.load(nodemo_bundle)


def ratings_of(dataset: Dataset, user_id: int) -> tuple[tuple[int, float], ...]:
    """A user's ratings in their time order (ties by movie id), as the dataset holds them."""
    r = dataset.ratings[dataset.ratings["user_id"] == user_id]
    r = r.sort_values(["timestamp", "movie_id"], kind="stable")
    return tuple(zip(r["movie_id"].tolist(), r["rating"].astype(float).tolist(), strict=True))


def ids(items: object) -> list[int]:
    return [it.movie_id for it in items]  # type: ignore[attr-defined]


@pytest.mark.parametrize("user_id", [1, 7, 23, 42])
def test_a_users_ratings_as_a_person_give_that_users_list(
    nodemo: Recommender, user_id: int
) -> None:
    dataset = synthetic_dataset(demographics=False)
    person = Person("them", ratings=ratings_of(dataset, user_id))
    for filters in (NO_FILTERS, Filters(genres=("Drama", "Comedy"))):
        as_user = nodemo.for_user(user_id, k=15, filters=filters)
        as_person = nodemo.for_person(person, k=15, filters=filters)
        assert ids(as_person.items) == ids(as_user.items)
        assert [i.reason for i in as_person.items] == [i.reason for i in as_user.items]
        assert [i.score for i in as_person.items] == pytest.approx(
            [i.score for i in as_user.items], abs=1e-3
        )
    assert as_person.profile.favourite_genres == as_user.user.favourite_genres
    assert as_person.profile.n_ratings == as_user.user.n_ratings


def test_with_demographics_the_stated_ones_make_the_same_query(
    rec: Recommender, small_dataset: Dataset
) -> None:
    """A model with demographics reads a known user's too; said by the person, they match."""
    users = small_dataset.users.set_index("user_id")
    for user_id in (3, 11):
        u = users.loc[user_id]
        person = Person(
            "them",
            ratings=ratings_of(small_dataset, user_id),
            age=AGE_YEARS[int(u["age"])],
            occupation=str(u["occupation"]),
            gender={"M": "male", "F": "female"}[str(u["gender"])],
        )
        as_person = rec.for_person(person, k=10)
        assert ids(as_person.items) == ids(rec.for_user(user_id, k=10).items)
        assert as_person.profile.ignored == ()
        without = rec.for_person(Person("them", ratings=person.ratings), k=10)
        assert without.profile.age_bucket is None


def test_rated_and_seen_movies_are_left_out_and_reasons_cite_the_likes(rec: Recommender) -> None:
    person = Person("ann", ratings=((MATRIX, 5.0), (HEAT_1995, 4.5), (HEAT_1986, 1.0)), seen=(10,))
    result = rec.for_person(person, k=30)
    got = set(ids(result.items))
    assert not got & {MATRIX, HEAT_1995, HEAT_1986, 10}
    assert any("Because you liked" in i.reason for i in result.items)
    assert all("Heat (1986)" not in i.reason for i in result.items)  # disliked: never a reason
    kept = rec.for_person(person, k=rec.catalogue.__len__(), exclude_seen=False)
    assert {MATRIX, 10} <= set(ids(kept.items))
    assert (result.profile.n_ratings, result.profile.n_seen) == (3, 1)


def test_a_thin_profile_takes_stated_genres_and_demographics(rec: Recommender) -> None:
    """With nothing rated yet, stated genres and demographics make the query a stated
    preference set makes: the same list as recommend_for_preferences."""
    thin = Person("new", genres=("romance", "musical"), age=22, gender="female")
    result = rec.for_person(thin, k=10)
    said = rec.for_preferences(["romance", "musical"], age=22, gender="female", k=10)
    assert ids(result.items) == ids(said.items)
    assert result.profile.stated_genres == ("Romance", "Musical")
    assert (result.profile.age_bucket, result.profile.gender) == ("18-24", "F")
    romantic = sum("Romance" in i.genres or "Musical" in i.genres for i in result.items)
    assert romantic >= 6
    seen = rec.for_person(Person("new", seen=(ids(result.items)[0],), genres=thin.genres), k=10)
    assert ids(result.items)[0] not in ids(seen.items)
    odd = rec.for_person(Person("new", ratings=((MATRIX, 4.0),), gender="robot"), k=3)
    assert odd.profile.ignored and "gender 'robot'" in odd.profile.ignored[0]
    empty = rec.for_person(Person("nobody"), k=5)
    assert len(empty.items) == 5 and empty.note and "No usable preferences" in empty.note
    with pytest.raises(MovieNotFoundError, match="no movie has id 99999"):
        rec.for_person(Person("x", ratings=((99999, 4.0),)), k=5)


def test_group_scores_standardise_each_member_and_keep_the_least_satisfied() -> None:
    cos = np.array([[0.1, 0.9, 0.5, 0.4], [0.8, 0.0, 0.6, 0.45]])
    s = group_scores(cos)
    z = (cos - cos.mean(1, keepdims=True)) / cos.std(1, keepdims=True)
    assert np.allclose(s.z, z) and np.allclose(s.group, z.min(0))
    assert s.percentile[0].tolist() == pytest.approx([0.0, 100.0, 200 / 3, 100 / 3])
    # Movie 1 is member 0's best but member 1's worst: the fair list puts movie 2 first.
    assert int(np.argmax(s.group)) == 2


def test_a_group_list_suits_everyone_and_skips_everyones_movies(rec: Recommender) -> None:
    dataset = synthetic_dataset()
    people = [Person(f"p{u}", ratings=ratings_of(dataset, u), seen=(HEAT_1986,)) for u in (2, 5)]
    result = rec.for_group(people, k=10)
    watched = {m for p in people for m, _ in p.ratings} | {HEAT_1986}
    assert len(result.items) == 10 and not set(ids(result.items)) & watched
    scores = [i.group_score for i in result.items]
    assert scores == sorted(scores, reverse=True)
    for item in result.items:
        assert [m.profile for m in item.members] == ["p2", "p5"]
        assert item.group_score == pytest.approx(
            min(m.standard_score for m in item.members), abs=2e-3
        )
        # score is a chance, as in every list: the least keen member's.
        assert 0 < item.score == min(m.chance for m in item.members) < 1
        assert "p2's top" in item.reason and "p5's top" in item.reason
    # Fairer than either member choosing: no ten movies give the least-satisfied member more.
    worst = sum(min(m.standard_score for m in i.members) for i in result.items)
    for p in people:
        alone = rec.for_person(Person(p.name, ratings=p.ratings, seen=tuple(watched)), k=10)
        picks = [rec.catalogue.index_of(i.movie_id) for i in alone.items]
        mine = rec.for_group(people, k=rec.catalogue.__len__())
        z = {i.movie_id: min(m.standard_score for m in i.members) for i in mine.items}
        assert worst >= sum(z[rec.catalogue.movie_ids[j]] for j in picks) - 1e-6
    assert all(0 < m.list_fit <= 100 for m in result.members)
    assert "lowest member" in result.method
    only = rec.for_group(people, k=10, filters=Filters(genres=("Documentary",)))
    assert len(only.items) <= 1 and only.note
    with pytest.raises(InvalidArgumentError, match="at least two"):
        rec.for_group(people[:1])


def test_movies_are_matched_by_exact_title_and_year_only(rec: Recommender) -> None:
    c = rec.catalogue
    assert c.movie_ids[match_movie(c, "Matrix, The (1999)", 1999)] == MATRIX
    assert c.movie_ids[match_movie(c, "The Matrix", 1999)] == MATRIX
    assert c.movie_ids[match_movie(c, "Heat (1986)", 1986)] == HEAT_1986
    assert match_movie(c, "Matrix, The (1999)", 2003) is None  # another film of that name
    assert match_movie(c, "Matrix Reloaded, The (2003)", 2003) is None
    assert match_movie(c, "The Matrx", 1999) is None  # a near miss is not the same film
    assert c.movie_ids[match_movie(c, "Undated Home Movie", None)] == 8
    assert match_movie(c, "Undated Home Movie", 1990) is None
