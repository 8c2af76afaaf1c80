"""The rankers a bundle serves with, built once at load from its model and movie table."""

from __future__ import annotations

from dataclasses import dataclass

from recsys.bundle.load import Bundle
from recsys.bundle.manifest import BundleError, retrain_hint
from recsys.ranking.facts import CatalogueFacts, catalogue_facts
from recsys.ranking.preferences import PreferenceRanker
from recsys.ranking.similar import SimilarRanker


@dataclass(frozen=True)
class Rankers:
    facts: CatalogueFacts
    preferences: PreferenceRanker
    similar: SimilarRanker


def rankers_for(bundle: Bundle) -> Rankers:
    model, movies = bundle.model, bundle.movies
    if model.ranking is None:  # a loaded bundle always has them; a hand-built one may not
        raise BundleError(
            f"the model in {bundle.path} has no ranking artifacts; {retrain_hint(bundle.path)}"
        )
    years = movies["year"].to_numpy(dtype=object)
    facts = catalogue_facts(model.features, [str(t) for t in movies["title"]], years)
    return Rankers(
        facts=facts,
        preferences=PreferenceRanker(model, model.ranking, facts),
        similar=SimilarRanker(model, model.ranking, facts),
    )
