"""Franchise groups from titles: sequel numbers, parts, series prefixes, the hand-checked list;
remakes and the listed false joins stay apart."""

from __future__ import annotations

from recsys.features.franchises import franchise_groups

TITLES = [
    "Toy Story (1995)",  # 0
    "Toy Story 2 (1999)",  # 1
    "Toy Story 3 (2010)",  # 2
    "Godfather, The (1972)",  # 3
    "Godfather: Part II, The (1974)",  # 4
    "Star Wars: Episode IV - A New Hope (1977)",  # 5
    "Star Wars: Episode V - The Empire Strikes Back (1980)",  # 6
    "Return of the Jedi (1983)",  # 7 (hand-checked: no shared text)
    "Heat (1986)",  # 8
    "Heat (1995)",  # 9  a remake: no marker, the same bare title
    "Super 8 (2011)",  # 10 listed as a false join
    "Super (2010)",  # 11
    "Harry Potter and the Sorcerer's Stone (a.k.a. Harry Potter and the Philosopher's Stone) "
    "(2001)",  # 12
    "Harry Potter and the Chamber of Secrets (2002)",  # 13
    "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)",  # 14
    "Lord of the Rings: The Fellowship of the Ring, The (2001)",  # 15
    "Lord of the Rings: The Two Towers, The (2002)",  # 16
]


def test_series_join_and_remakes_stay_apart() -> None:
    f = franchise_groups(TITLES)
    groups = {tuple(g) for g in f.members}
    assert (0, 1, 2) in groups
    assert (3, 4) in groups
    assert (5, 6, 7) in groups
    assert (12, 13) in groups
    assert (15, 16) in groups
    for alone in (8, 9, 10, 11, 14):
        assert f.group[alone] == -1
    assert len(groups) == 5
    assert list(f.same_group(1)) == [0, 1, 2]
    assert len(f.same_group(14)) == 0


def test_without_the_hand_checked_list_unrelated_titles_do_not_join() -> None:
    f = franchise_groups(TITLES, hand=False)
    assert f.group[7] == -1  # Return of the Jedi shares no text with Star Wars
    assert f.group[5] == f.group[6] >= 0
