"""Title normalisation, search and resolution."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.titles import display_title, normalise, split_title, variant_keys
from recsys.serving.titles import EXACT, FUZZY, PREFIX, TOKENS, TitleIndex

# (title, rating count); years come from the titles.
CATALOGUE = [
    ("Matrix, The (1999)", 300),
    ("Matrix Reloaded, The (2003)", 120),
    ("Matrix Revolutions, The (2003)", 100),
    ("Animatrix, The (2003)", 10),
    ("Heat (1995)", 100),
    ("Heat, The (2013)", 20),
    ("Misérables, Les (1995)", 15),
    ("Misérables, Les (2012)", 40),
    ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", 30),
    ("Twelve Monkeys (a.k.a. 12 Monkeys) (1995)", 200),
    ("Die Hard (1988)", 150),
    ("Die Hard 2 (1990)", 60),
    ("Godfather, The (1972)", 250),
    ("Godfather: Part II, The (1974)", 180),
    ("Godfather: Part III, The (1990)", 80),
    ("Shawshank Redemption, The (1994)", 320),
    ("Blade Runner (1982)", 160),
    ("Blade Runner 2049 (2017)", 50),
    ("Hamlet (1990)", 10),
    ("Hamlet (1996)", 25),
    ("Star Wars: Episode IV - A New Hope (1977)", 250),
    ("Star Wars: Episode V - The Empire Strikes Back (1980)", 210),
    ("Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)", 120),
    ("Babylon 5", 5),
    ("Death Note: Desu nôto (2006–2007)", 3),
    ("Seven (a.k.a. Se7en) (1995)", 200),
    ("Seven (1979)", 2),
]


@pytest.fixture(scope="module")
def titles() -> TitleIndex:
    return TitleIndex.build([t for t, _ in CATALOGUE], popularity=[c for _, c in CATALOGUE])


def pos(title: str) -> int:
    return [t for t, _ in CATALOGUE].index(title)


def found(titles: TitleIndex, query: str) -> str:
    res = titles.resolve(query)
    assert res.status == "found", (query, res)
    return CATALOGUE[res.index][0]


def test_split_title_finds_alternates_and_year() -> None:
    variants, year = split_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)")
    assert variants == ["City of Lost Children, The", "Cité des enfants perdus, La"]
    assert year == 1995
    assert split_title("Seven (a.k.a. Se7en) (1995)") == (["Seven", "Se7en"], 1995)
    assert split_title("Babylon 5") == (["Babylon 5"], None)
    assert split_title("(500) Days of Summer (2009)") == (["(500) Days of Summer"], 2009)


def test_keys_move_articles_fold_accents_and_drop_punctuation() -> None:
    assert variant_keys("Matrix, The") == ("the matrix", "matrix")
    assert variant_keys("Misérables, Les") == ("les miserables", "miserables")
    assert variant_keys("Avventura, L'") == ("l avventura", "avventura")
    assert variant_keys("The Matrix") == ("the matrix", "matrix")
    # A leading foreign word is not trusted as an article: "Die Hard" is not "Hard".
    assert variant_keys("Die Hard") == ("die hard", None)
    assert normalise("schindler's list!") == "schindlers list"
    assert normalise("godfather part ii") == normalise("godfather part 2")


@pytest.mark.parametrize(
    "query", ["The Matrix", "matrix", "MATRIX", "Matrix, The (1999)", "the matrix 1999"]
)
def test_matrix_spellings(titles: TitleIndex, query: str) -> None:
    assert found(titles, query) == "Matrix, The (1999)"
    assert titles.search(query, k=1)[0].index == pos("Matrix, The (1999)")


def test_accents_and_alternate_titles(titles: TitleIndex) -> None:
    assert found(titles, "Les Miserables 2012") == "Misérables, Les (2012)"
    assert found(titles, "les misérables (1995)") == "Misérables, Les (1995)"
    assert (
        found(titles, "cite des enfants perdus")
        == "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    )
    assert found(titles, "city of lost children") == found(titles, "Cité des enfants perdus, La")
    assert found(titles, "12 Monkeys") == "Twelve Monkeys (a.k.a. 12 Monkeys) (1995)"
    # Every catalogue title, typed back verbatim, finds itself.
    for i, (title, _) in enumerate(CATALOGUE):
        assert titles.resolve(title).index == i, title
    assert found(titles, "Se7en") == "Seven (a.k.a. Se7en) (1995)"
    assert titles.resolve("Seven").status == "ambiguous"
    assert found(titles, "death note") == "Death Note: Desu nôto (2006–2007)"
    assert found(titles, "amelie") == "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"


def test_year_picks_among_remakes(titles: TitleIndex) -> None:
    res = titles.resolve("Les Miserables")
    assert res.status == "ambiguous"
    # Candidates ranked by popularity.
    assert [CATALOGUE[i][0] for i in res.candidates] == [
        "Misérables, Les (2012)",
        "Misérables, Les (1995)",
    ]
    assert found(titles, "Hamlet (1990)") == "Hamlet (1990)"
    assert found(titles, "Hamlet 1996") == "Hamlet (1996)"
    assert titles.resolve("Hamlet").status == "ambiguous"
    # A wrong year does not silently pick the only same-titled film.
    res = titles.resolve("Die Hard (1975)")
    assert res.status == "ambiguous" and res.candidates == (pos("Die Hard (1988)"),)


def test_title_article_beats_bare_match(titles: TitleIndex) -> None:
    assert found(titles, "heat") == "Heat (1995)"
    assert found(titles, "The Heat") == "Heat, The (2013)"
    assert found(titles, "Heat 1995") == "Heat (1995)"


def test_trailing_number_can_be_part_of_the_title(titles: TitleIndex) -> None:
    assert found(titles, "Blade Runner 2049") == "Blade Runner 2049 (2017)"
    assert found(titles, "Blade Runner") == "Blade Runner (1982)"
    assert titles.search("Blade Runner 2049", k=1)[0].index == pos("Blade Runner 2049 (2017)")


def test_prefix_words_and_fuzzy(titles: TitleIndex) -> None:
    assert found(titles, "shawshank") == "Shawshank Redemption, The (1994)"
    assert found(titles, "godfather 2") == "Godfather: Part II, The (1974)"
    assert found(titles, "star wars a new hope") == "Star Wars: Episode IV - A New Hope (1977)"
    assert found(titles, "Shawshenk Redemption") == "Shawshank Redemption, The (1994)"
    assert titles.resolve("star wars").status == "ambiguous"
    assert titles.resolve("qqqzzzxx").status == "not_found"


def test_search_ranks_by_tier_then_popularity(titles: TitleIndex) -> None:
    hits = titles.search("matrix", k=4)
    assert [h.index for h in hits] == [
        pos("Matrix, The (1999)"),
        pos("Matrix Reloaded, The (2003)"),
        pos("Matrix Revolutions, The (2003)"),
        pos("Animatrix, The (2003)"),
    ]
    assert [h.tier for h in hits] == [EXACT, PREFIX, PREFIX, FUZZY]
    words = titles.search("empire strikes", k=1)[0]
    assert words.tier == TOKENS and words.index == pos(
        "Star Wars: Episode V - The Empire Strikes Back (1980)"
    )


def test_search_respects_allowed_mask(titles: TitleIndex) -> None:
    allowed = np.ones(len(CATALOGUE), dtype=bool)
    allowed[pos("Matrix, The (1999)")] = False
    hits = titles.search("matrix", k=10, allowed=allowed)
    assert hits and all(allowed[h.index] for h in hits)


def test_explicit_years_override_title_years() -> None:
    idx = TitleIndex.build(["Babylon 5", "Heat"], years=[1994, None], popularity=[1, 1])
    assert idx.years.tolist() == [1994, -1]
    assert idx.resolve("Babylon 5 (1994)").index == 0


def test_exact_lists_every_same_titled_movie(titles: TitleIndex) -> None:
    got = set(titles.exact("hamlet").tolist())
    assert got == {pos("Hamlet (1990)"), pos("Hamlet (1996)")}


@pytest.mark.parametrize(
    ("raw", "year", "shown"),
    [
        ("Matrix, The (1999)", 1999, "The Matrix (1999)"),
        ("Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)", 2001, "Amelie (2001)"),
        ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", 1995,
         "The City of Lost Children (1995)"),
        ("Misérables, Les (1995)", 1995, "Les Misérables (1995)"),
        ("Avventura, L' (1960)", 1960, "L'Avventura (1960)"),
        ("Seven (a.k.a. Se7en) (1995)", 1995, "Seven (1995)"),
        ("Untitled Project", None, "Untitled Project"),
        ("Heat (1995)", 1995, "Heat (1995)"),
    ],
)  # fmt: skip
def test_titles_are_displayed_as_people_write_them(raw: str, year: int | None, shown: str) -> None:
    assert display_title(raw, year) == shown
