"""Genre words people type: single genres, words naming two genres (all required), and words
for kinds of film MovieLens does not record, answered with genres close in meaning."""

from __future__ import annotations

import pytest

from recsys.data.vocab import closest_genres, genre_group


@pytest.mark.parametrize(
    ("word", "group"),
    [
        ("rom-com", ("Romance", "Comedy")),
        ("romcom", ("Romance", "Comedy")),
        ("Romantic  Comedy", ("Romance", "Comedy")),
        ("sci fi", ("Sci-Fi",)),
        ("noir", ("Film-Noir",)),
        ("docs", ("Documentary",)),
        ("documentaries", ("Documentary",)),
        ("kids", ("Children",)),
        ("family", ("Children",)),
        ("cartoon", ("Animation",)),
        ("feel-good", ("Comedy",)),
        ("Western", ("Western",)),
    ],
)
def test_typed_words_name_genre_groups(word: str, group: tuple[str, ...]) -> None:
    assert genre_group(word) == group


@pytest.mark.parametrize(
    ("word", "meant", "not_meant"),
    [
        ("superhero", {"Action", "Sci-Fi"}, {"Thriller"}),
        ("teen", {"Comedy", "Romance"}, {"Western"}),
    ],
)
def test_words_that_are_no_genre_suggest_genres_close_in_meaning(
    word: str, meant: set[str], not_meant: set[str]
) -> None:
    assert genre_group(word) is None
    suggested = set(closest_genres(word))
    assert meant <= suggested and not (not_meant & suggested)


def test_misspellings_still_get_spelling_suggestions() -> None:
    assert genre_group("thriler") is None
    assert closest_genres("thriler")[0] == "Thriller"
