"""The request-adherence report's requests: single genres and the fixed personas, read against
one catalogue, and the ranker's answers with the liked movie each reason cites."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recsys.data.synthetic import HEAT_1995, MATRIX, TOY_STORY, UNDATED
from recsys.evaluation.personas import (
    Catalogue,
    answer,
    load_personas,
    persona_request,
    single_genre_requests,
)
from recsys.ranking.facts import catalogue_facts
from recsys.ranking.preferences import PreferenceRanker

PERSONAS = Path(__file__).resolve().parents[1] / "bench" / "personas.json"


@pytest.fixture(scope="module")
def catalogue(small_model, small_dataset) -> Catalogue:
    titles = [str(t) for t in small_dataset.movies["title"]]
    years = small_dataset.movies["year"].to_numpy(dtype=object)
    facts = catalogue_facts(small_model.features, titles, years)
    fs = small_model.features
    return Catalogue(facts, titles, tuple(fs.occupations), bool(fs.has_demographics))


def test_the_persona_file_is_the_fixed_one():
    personas = load_personas(PERSONAS)
    assert len(personas) == 32 and personas[0]["id"] == "p01"
    note = json.loads(PERSONAS.read_text(encoding="utf-8"))["_note"]
    assert "before any tuning" in note


@pytest.mark.slow  # the session's small model
def test_single_genre_requests_cover_every_genre_a_movie_carries(catalogue):
    requests = single_genre_requests(catalogue)
    names = [a.name for a, _ in requests]
    assert "Documentary" in names and "IMAX" not in names  # one unrated documentary; no IMAX
    for asked, request in requests:
        assert request.genres == ((asked.name,),) and asked.genres == (asked.name,)


@pytest.mark.slow  # the session's small model
def test_personas_become_requests(catalogue):
    person = {
        "id": "x",
        "genres": ["sci-fi", "thriller"],
        "age": 34,
        "occupation": "nurse",
        "gender": "F",
        "liked": [["Heat (1986 remake)", "Heat (1995)"], ["Nowhere (2000)"]],
        "disliked": [["Matrix, The (1999)"]],
        "exclude_movies": [["Toy Story (1995)"]],
        "exclude_genres": ["comedy"],
        "year_min": 1990,
    }
    asked, request = persona_request(person, catalogue)
    assert asked.genres == ("Sci-Fi", "Thriller") and request.genres == (("Sci-Fi",), ("Thriller",))
    assert request.liked == (HEAT_1995 - 1,) == asked.liked  # the first spelling that resolves
    assert request.disliked == (MATRIX - 1,) and request.excluded == (TOY_STORY - 1,)
    assert request.age == 25 and request.gender == "F"
    assert request.occupation == "doctor/health care"
    allowed = request.allowed
    assert allowed is not None
    facts = catalogue.facts
    comedy = facts.genre_matrix[:, facts.genres.index("Comedy")]
    assert not allowed[comedy].any() and not allowed[UNDATED - 1]  # no year: not in range
    assert (facts.years[allowed] >= 1990).all()
    assert persona_request({"id": "i", "genres": ["imax"]}, catalogue) == "no movie carries IMAX"
    with pytest.raises(ValueError, match="no genre"):
        persona_request({"id": "b", "genres": ["feel-bad"]}, catalogue)


@pytest.mark.slow  # the session's small model
def test_answers_carry_the_liked_movie_each_reason_cites(small_model, catalogue):
    ranker = PreferenceRanker(small_model, small_model.ranking, catalogue.facts)
    person = {"id": "p", "genres": ["action"], "liked": [["Heat (1995)"], ["Matrix, The (1999)"]]}
    asked, request = persona_request(person, catalogue)
    got = answer(ranker, request)
    ranked = ranker.rank(request)
    assert got.items == tuple(ranked.items.tolist())
    for cited, reason in zip(got.cited, ranked.reasons, strict=True):
        assert cited == (reason.liked if reason.term == "liked" else None)
    assert not set(got.items) & set(asked.liked)
    assert np.isin([c for c in got.cited if c is not None], asked.liked).all()
