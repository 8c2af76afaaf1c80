"""The rankers on a small trained model with planted tastes and planted franchises.

`synthetic_dataset(franchises=6)`: users whose gender and age plant two liked
genres, and six numbered series at the end of the catalogue whose fans see
the other films too (the first series has five films). The model is trained
with a validation slice, so its calibrations are fitted, not the fallback.
Every check here can fail: reasons are re-derived from the raw ratings, not
from the code that wrote them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import raw_lift

from recsys.data.dataset import Dataset
from recsys.data.synthetic import franchise_members, planted_genres, synthetic_dataset
from recsys.ranking.colikes import CO_LIKERS_MIN, LIFT_MIN
from recsys.ranking.facts import CatalogueFacts, catalogue_facts
from recsys.ranking.preferences import PreferenceRanker
from recsys.ranking.requests import PreferenceRequest
from recsys.ranking.similar import SimilarRanker
from recsys.training.config import TrainConfig

pytestmark = pytest.mark.slow  # trains a model

N_MOVIES, FRANCHISES = 200, 6
TRAIN = TrainConfig().with_values(
    epochs=30, dim=16, hidden=32, batch_size=16, lr=1e-2, eval_every=5, seed=0
)


@pytest.fixture(scope="module")
def planted() -> Dataset:
    return synthetic_dataset(
        n_users=300, n_movies=N_MOVIES, n_ratings=12_000, seed=2, franchises=FRANCHISES
    )


@pytest.fixture(scope="module")
def model(planted: Dataset):
    from recsys.training.fit import fit

    return fit(planted, TRAIN, progress=False)


@pytest.fixture(scope="module")
def facts(model, planted: Dataset) -> CatalogueFacts:
    return catalogue_facts(model.features, list(planted.movies["title"]), planted.movies["year"])


@pytest.fixture(scope="module")
def ranker(model, facts: CatalogueFacts) -> PreferenceRanker:
    return PreferenceRanker(model, model.ranking, facts)


@pytest.fixture(scope="module")
def similar(model, facts: CatalogueFacts) -> SimilarRanker:
    return SimilarRanker(model, model.ranking, facts)


def dense(model, movie_id: int) -> int:
    return int(model.features.movie_index(movie_id))


def test_the_calibrations_were_fitted_on_validation_users(model) -> None:
    assert model.ranking.calibrations.fitted_on == "validation"
    record = model.training["calibration"]
    for part in ("preferences", "similarity", "known_users"):
        assert record[part]["fitted_on"] == "validation" and record[part]["rows"] > 50
        assert 0 <= record[part]["out_of_fold_ece"] < 0.2


def test_every_genre_stated_alone_fills_the_list_with_that_genre(
    ranker: PreferenceRanker, facts: CatalogueFacts
) -> None:
    rare = 0
    for g in facts.genres:
        col = facts.genres.index(g)
        available = facts.genre_matrix[:, col].copy()
        if not available.any():
            continue
        available[sorted(ranker.bans.get(g, ()))] = False
        ranked = ranker.rank(PreferenceRequest(genres=((g,),), k=10))
        assert facts.genre_matrix[ranked.items, col].all(), g
        # A rare genre gives what it has, and says how many are missing.
        assert len(ranked.items) == min(10, int(available.sum())), g
        assert ranked.shortfall == 10 - len(ranked.items)
        rare += int(available.sum()) < 10
    assert rare >= 1  # Documentary holds one movie


def test_no_title_sits_in_more_than_a_quarter_of_the_one_genre_lists(
    ranker: PreferenceRanker, facts: CatalogueFacts
) -> None:
    genres = [g for g in facts.genres if facts.genre_matrix[:, facts.genres.index(g)].any()]
    counts: dict[int, int] = {}
    for g in genres:
        for j in ranker.rank(PreferenceRequest(genres=((g,),))).items.tolist():
            counts[j] = counts.get(j, 0) + 1
    assert max(counts.values()) <= len(genres) // 4


def test_liked_movies_given_make_answers_no_worse(
    ranker: PreferenceRanker,
    planted: Dataset,
    model,
) -> None:
    """Users described by their planted genres and demographics, then also by their three
    earliest likes: their other likes are found at least as often."""
    fs = model.features
    without, with_liked = [], []
    for u in range(fs.n_users):
        items, ratings = fs.history(u)
        likes = items[ratings >= fs.like_threshold]
        if len(likes) < 6:
            continue
        demo = fs.demographics(u)
        genres = tuple((g,) for g in planted_genres(str(demo["gender"]), int(demo["age"])))
        rest = set(likes[3:].tolist())
        for given, out in (((), without), (tuple(int(i) for i in likes[:3]), with_liked)):
            request = PreferenceRequest(genres=genres, **demo, liked=given)
            out.append(len(rest & set(ranker.rank(request).items.tolist())) / 10)
    assert len(without) > 100
    assert np.mean(with_liked) >= np.mean(without)


def test_every_because_you_liked_reason_is_a_true_co_like_link(
    ranker: PreferenceRanker,
    planted: Dataset,
    model,
) -> None:
    fs = model.features
    ratings = planted.ratings
    rng = np.random.default_rng(5)
    linked = total = 0
    for _ in range(40):
        liked = tuple(
            int(i) for i in rng.choice(fs.n_movies, size=int(rng.integers(1, 5)), replace=False)
        )
        genres = tuple(
            (g,) for g in rng.choice(["Action", "Romance", "Drama", "War"], 2, replace=False)
        )
        ranked = ranker.rank(PreferenceRequest(genres=genres, liked=liked))
        ids = fs.movie_ids
        for j, reason in zip(ranked.items.tolist(), ranked.reasons, strict=True):
            total += 1
            # The best qualifying liked movie, computed here from the raw ratings.
            best, best_lift = None, 0.0
            for x in liked:
                if x == j:
                    continue
                lift, co = raw_lift(ratings, int(ids[x]), int(ids[j]))
                if co >= CO_LIKERS_MIN and lift >= LIFT_MIN and lift > best_lift:
                    best, best_lift = x, lift
            if reason.term == "liked":
                linked += 1
                assert reason.liked != j and reason.liked == best
                assert reason.lift == pytest.approx(best_lift)
            else:
                assert best is None, "a true link was left unsaid"
                assert reason.term in ("z0", "zt", "gfrac", "lpop")
    assert linked >= total // 4  # the check above saw many links


def test_franchise_partners_are_found_among_similar_movies(
    similar: SimilarRanker,
    model,
) -> None:
    recall = []
    for members in franchise_members(N_MOVIES, FRANCHISES):
        group = {dense(model, m) for m in members}
        for anchor in group:
            found = set(similar.rank(anchor, k=10).items.tolist())
            recall.append(len(found & (group - {anchor})) / min(10, len(group) - 1))
    assert np.mean(recall) >= 0.9


def test_often_rated_by_the_same_people_is_said_only_when_they_were(
    similar: SimilarRanker, planted: Dataset, model
) -> None:
    from recsys.ranking.neighbours import SHRINK
    from recsys.ranking.similar import CO_PART_MIN, CO_RATERS_MIN

    rated = planted.ratings.groupby("movie_id")["user_id"].apply(set)
    counts = model.features.movie_counts
    order = np.argsort(counts, kind="stable")
    anchors = [*order[counts[order] > 0][:15].tolist(), *order[-15:].tolist()]
    said = {"blend": 0, "content": 0}
    for anchor in anchors:
        ranked = similar.rank(int(anchor), k=10)
        for j, reason in zip(ranked.items.tolist(), ranked.reasons, strict=True):
            if reason.term not in said:
                continue
            a, b = (int(model.features.movie_ids[x]) for x in (anchor, j))
            both = len(rated.get(a, set()) & rated.get(b, set()))
            said[reason.term] += 1
            if reason.term == "blend":
                assert both >= CO_RATERS_MIN, (a, b, both)
            else:  # "though few people rated both": few, or few for movies this rated
                na, nb = len(rated.get(a, ())), len(rated.get(b, ()))
                share = both / (np.sqrt(na * nb) + SHRINK)
                assert both < CO_RATERS_MIN or share < CO_PART_MIN + 0.002, (a, b, both)
    assert said["blend"] and said["content"]  # the little-rated anchors fall back on content


def test_one_franchise_holds_at_most_three_places_unless_it_is_the_anchors(
    ranker: PreferenceRanker,
    similar: SimilarRanker,
    planted: Dataset,
    model,
) -> None:
    saga = [dense(model, m) for m in franchise_members(N_MOVIES, FRANCHISES)[0]]
    genres = planted.movies.set_index("movie_id").loc[
        int(model.features.movie_ids[saga[0]]), "genres"
    ]
    ranked = ranker.rank(PreferenceRequest(genres=((genres[0],),), liked=(saga[0],), k=20))
    assert len(set(ranked.items.tolist()) & set(saga)) <= 3
    for other in range(4):  # any anchor's list: no other franchise above three
        anchor = int(np.argsort(-model.features.movie_counts)[other])
        groups = model.ranking and similar.facts.franchises.group[similar.rank(anchor, k=30).items]
        own = similar.facts.franchises.group[anchor]
        assert all((groups == g).sum() <= 3 for g in set(groups.tolist()) - {-1, own})
    own_list = similar.rank(saga[0], k=10).items.tolist()
    assert len(set(own_list) & set(saga)) == 4  # the anchor's own series is not capped


def test_liked_disliked_and_excluded_movies_are_never_listed_and_dislikes_push_down(
    ranker: PreferenceRanker,
    model,
) -> None:
    base = PreferenceRequest(genres=(("Action",), ("Sci-Fi",)), k=15)
    first = ranker.rank(base).items.tolist()
    liked, disliked, excluded = (first[0],), (first[1], first[2]), (first[3],)
    ranked = ranker.rank(
        PreferenceRequest(
            genres=base.genres, liked=liked, disliked=disliked, excluded=excluded, k=15
        )
    )
    assert not set(ranked.items.tolist()) & {*liked, *disliked, *excluded}
    near = set(model.ranking.neighbours.index[first[1], :10].tolist())
    plain = ranker.rank(
        PreferenceRequest(genres=base.genres, liked=liked, excluded=(*disliked, *excluded), k=15)
    )
    pushed = ranked.scores
    # Same request but for the dislike: every shared neighbour of the disliked movie scores lower.
    common = [j for j in ranked.items.tolist() if j in near and j in plain.items.tolist()]
    for j in common:
        assert pushed[ranked.items.tolist().index(j)] < plain.scores[plain.items.tolist().index(j)]


def test_liked_movies_that_point_elsewhere_widen_the_genres_with_a_limit(
    ranker: PreferenceRanker, facts: CatalogueFacts
) -> None:
    war = facts.genre_matrix[:, facts.genres.index("War")]
    romance = facts.genre_matrix[:, facts.genres.index("Romance")]
    elsewhere = np.flatnonzero(romance & ~war)[:3]
    ranked = ranker.rank(
        PreferenceRequest(genres=(("War",),), liked=tuple(int(i) for i in elsewhere))
    )
    assert ranked.exception and "Romance" in ranked.admitted
    outside = ~war[ranked.items]
    assert 0 < outside.sum() <= 10 // 2
    assert not ranker.rank(PreferenceRequest(genres=(("War",),))).exception
    inside = ranker.rank(
        PreferenceRequest(genres=(("War",),), liked=tuple(int(i) for i in np.flatnonzero(war)[:3]))
    )
    assert not inside.exception and war[inside.items].all()


def test_a_group_of_genres_needs_them_all(ranker: PreferenceRanker, facts: CatalogueFacts) -> None:
    cols = facts.columns(("Romance", "Musical"))
    ranked = ranker.rank(PreferenceRequest(genres=(("Romance", "Musical"),), k=5))
    assert len(ranked.items) and facts.genre_matrix[ranked.items][:, cols].all()


def test_chances_are_calibrated_numbers_that_never_rise_down_the_list(
    ranker: PreferenceRanker,
    similar: SimilarRanker,
    model,
) -> None:
    for liked in ((), (0,), (0, 5, 9)):
        chance = ranker.rank(PreferenceRequest(genres=(("Drama",),), liked=liked)).chance
        assert ((chance >= 0) & (chance <= 1)).all() and (np.diff(chance) <= 0).all()
    for anchor in (0, 10, 150):
        ranked = similar.rank(anchor, k=20)
        assert ((ranked.similarity >= 0) & (ranked.similarity <= 1)).all()
        assert (np.diff(ranked.similarity) <= 0).all()


def test_filters_past_the_stored_neighbours_fall_back_on_content(
    similar: SimilarRanker, facts: CatalogueFacts
) -> None:
    anchor = 20
    stored = set(similar.artifacts.neighbours.index[anchor].tolist())
    allowed = np.ones(facts.n_movies, bool)
    allowed[list(stored)] = False
    ranked = similar.rank(anchor, k=5, allowed=allowed)
    assert len(ranked.items) == 5 and not set(ranked.items.tolist()) & stored
    assert all(r.term in ("content", "liked") for r in ranked.reasons)


def test_the_trained_scores_of_the_served_model_match_torch(model, tmp_path: Path, planted) -> None:
    from recsys.bundle.load import load_bundle
    from recsys.bundle.write import write_bundle
    from recsys.features.queries import UserQuery

    served = load_bundle(write_bundle(model, planted, tmp_path / "b")).model
    queries = [
        UserQuery(stated_genres=("War",)),
        UserQuery(stated_genres=("Drama",), history=(3, 4)),
    ]
    np.testing.assert_allclose(
        served.trained_scores(queries), model.trained_scores(queries), atol=2e-4
    )
    np.testing.assert_allclose(served.tower_directions, model.tower_directions, atol=1e-6)
