"""Franchise groups derived from titles: numbered sequels, "Part II", shared series prefixes,
"X and the ..." series, plus a hand-checked list.

Series keys of a title: its main title with the article moved back; the same
without a trailing sequel number 2-9, "Part N", "Chapter N" or "Vol N" (Roman
numerals are normalised by `recsys.data.titles.normalise`); the prefix before
":" or " - " (holding a non-stopword of 3+ letters); "X and the ..." with a 2+
word X. Two titles join when they share a key, at least one carries a sequel or
series marker, and their bare titles differ (plain remakes do not join);
groups are the union-find closure of those links, then `HAND` joins series
whose titles share no text and `EXCLUDE` keeps out false joins. Both lists
were checked by reading every group of ML-100K and ml-latest-small
(ML-100K: 31 groups / 76 movies; ml-latest-small: 380 / 1,145).

The groups drive the per-list franchise cap and the similar-movies evaluation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from recsys.data.titles import fold, normalise, split_title

_TRAIL_NUM = re.compile(r"^(?P<base>.+?)\s+(?:part\s+|chapter\s+|vol\s+|volume\s+)?(?P<n>[2-9])$")
_STOP = frozenset(
    {"the", "a", "an", "of", "and", "in", "on", "to", "my", "i", "me", "la", "le", "les", "el"}
)
_Union = Callable[[int, int], None]  # joins two movies' groups
_END_ARTICLE = re.compile(r"^(?P<rest>.+?),\s*(the|a|an)\s*$")
_END_ARTICLE_WIDE = re.compile(r"^(?P<rest>.+?),\s*(the|a|an|les|la|le|el|il|die|das|der)\s*$")

# Hand-checked groups whose titles do not share text (regexes on the folded main title).
HAND: dict[str, tuple[str, ...]] = {
    "star wars": (r"^star wars", r"^empire strikes back", r"^return of the jedi", r"^rogue one"),
    "alien": (r"^alien(s|3|³)?$", r"^alien 3", r"^alien: resurrection", r"^alien³"),
    "indiana jones": (r"^raiders of the lost ark", r"^indiana jones"),
    "jurassic park": (r"^jurassic (park|world)", r"^lost world: jurassic park"),
    "batman": (r"^batman( returns| forever| & robin| begins)?$", r"^dark knight", r"^batman: mask"),
    "matrix": (r"^matrix(, the| reloaded| revolutions)",),
    "bourne": (r"^bourne (identity|supremacy|ultimatum|legacy)", r"^jason bourne"),
    "x-men": (r"^x-men", r"^x2: x-men", r"^logan$", r"^wolverine, the$"),
    "ocean's": (r"^ocean's (eleven|twelve|thirteen|8)",),
    "rambo": (r"^first blood", r"^rambo"),
    "evil dead": (r"^evil dead", r"^army of darkness"),
    "blade runner": (r"^blade runner",),
    "shrek": (r"^shrek",),
    "toy story": (r"^toy story",),
    "godfather": (r"^godfather",),
    "terminator": (r"^terminator",),
    "lord of the rings": (r"^lord of the rings", r"^hobbit: "),
    "harry potter": (r"^harry potter",),
    "die hard": (r"^die hard", r"^live free or die hard"),
    "back to the future": (r"^back to the future",),
    "lethal weapon": (r"^lethal weapon",),
    "mad max": (r"^mad max", r"^road warrior"),
    "spider-man": (r"^spider-man", r"^amazing spider-man"),
    "hunger games": (r"^hunger games",),
    "pirates of the caribbean": (r"^pirates of the caribbean",),
    "austin powers": (r"^austin powers",),
    "james bond": (
        r"^(dr\. no|goldfinger|from russia with love|thunderball|you only live twice|"
        r"on her majesty's secret service|diamonds are forever|live and let die|"
        r"man with the golden gun|spy who loved me|moonraker|for your eyes only|octopussy|"
        r"view to a kill|living daylights|licence to kill|goldeneye|tomorrow never dies|"
        r"world is not enough|die another day|casino royale|quantum of solace|skyfall|spectre)",
    ),
}

# Hand-checked: titles the rules above join to a series they do not belong to (other films
# sharing a word or a colon prefix, remakes linked through a third title).
EXCLUDE = frozenset(
    {
        "Mission, The (1986)", "Game 6 (2005)",
        "Ali: Fear Eats the Soul (Angst essen Seele auf) (1974)",
        "Dracula: Dead and Loving It (1995)", "American, The (2010)",
        "American: The Bill Hicks Story (2009)", "Exodus (1960)", "Turbo (2013)", "Solo (1996)",
        "Divorce, Le (2003)", "Don't Look Now: We're Being Shot At (La grande vadrouille) (1966)",
        "Spirit, The (2008)", "Upside Down (2012)", "Messenger, The (2009)",
        "Robin Hood: Men in Tights (1993)", "Robin Hood: Prince of Thieves (1991)",
        "Robin Hood (1973)", "Robin Hood (2010)", "Killer (Bulletproof Heart) (1994)",
        "Killer: A Journal of Murder (1995)", "Snow White (1916)",
        "Snow White and the Huntsman (2012)", "Steve Jobs: The Man in the Machine (2015)",
        "Father of the Bride (1950)", "Henry: Portrait of a Serial Killer (1986)",
        "Super, The (1991)", "Super (2010)", "Super 8 (2011)", "The Professional: Golgo 13 (1983)",
        "Oblivion 2: Backlash (1996)", "Neighbors (1981)", "Hamlet 2 (2008)", "Iron Man (1931)",
        "Babe, The (1992)", "Avengers, The (1998)", "Mummy, The (1932)", "Mummy, The (1959)",
        "Psycho (1998)", "Stargate: Continuum (2008)",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Franchises:
    """Franchise groups over a catalogue (dense movie indices)."""

    group: np.ndarray  # int32 (n_movies,): the movie's group, -1 when in none
    members: tuple[tuple[int, ...], ...]  # each group's movies, sorted; two or more each

    def same_group(self, i: int) -> np.ndarray:
        """The movies in movie i's group (none when it is in no group)."""
        g = int(self.group[i])
        return np.asarray(self.members[g] if g >= 0 else (), dtype=np.int64)


def main_title(raw: str) -> str:
    """A MovieLens title's main variant (no alternates, no year)."""
    return split_title(raw)[0][0]


def bare_title(text: str) -> str:
    """The normalised key of a (main) title without its article, leading or moved back."""
    return _bare(fold(text).strip())


def _bare(f: str) -> str:
    """`bare_title` of already folded text (folding twice changes nothing, but costs)."""
    m = _END_ARTICLE_WIDE.match(f)
    if m:
        f = m.group("rest")
    key = normalise(f)
    first, _, rest = key.partition(" ")
    if rest and first in ("the", "a", "an"):
        key = rest
    return key


def series_keys(raw: str) -> tuple[set[str], bool]:
    """(series keys of a title, whether it carries a sequel or series marker)."""
    return _series_keys(fold(main_title(raw)).strip())


def _series_keys(f: str) -> tuple[set[str], bool]:
    """`series_keys` of a folded main title."""
    keys: set[str] = set()
    marker = False
    m = _END_ARTICLE.match(f)  # "Godfather: Part II, The"
    if m:
        f = m.group("rest")
    base = _bare(f)
    t = _TRAIL_NUM.match(base)
    if t:
        keys.add(t.group("base"))
        marker = True
    else:
        keys.add(base)
    for sep in (":", " - "):
        if sep in f:
            pre = _bare(f.split(sep)[0].strip())
            t = _TRAIL_NUM.match(pre)
            if t:
                pre = t.group("base")
            if any(w not in _STOP and len(w) >= 3 for w in pre.split()):
                keys.add(pre)
                marker = True
    if " and the " in f:
        pre = _bare(f.split(" and the ")[0].strip())
        if len(pre.split()) >= 2:
            keys.add(pre)
            marker = True
    return keys, marker


def franchise_groups(titles: Sequence[str], hand: bool = True) -> Franchises:
    """The franchise groups of a catalogue's MovieLens titles (row i = dense index i)."""
    n = len(titles)
    folded = [fold(main_title(str(t))).strip() for t in titles]
    by_key: dict[str, list[int]] = defaultdict(list)
    marked = np.zeros(n, dtype=bool)
    bare: list[str | None] = [None] * n
    excluded = [str(t).strip() in EXCLUDE for t in titles]
    for i, f in enumerate(folded):
        if excluded[i]:
            continue
        keys, marked[i] = _series_keys(f)
        bare[i] = _bare(f)
        for k in keys:
            by_key[k].append(i)
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    for members in by_key.values():
        for x, a in enumerate(members):
            for b in members[x + 1 :]:
                if (marked[a] or marked[b]) and bare[a] != bare[b]:
                    union(a, b)
    if hand:
        _join_hand_checked(folded, excluded, union)
    roots: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        roots[find(i)].append(i)
    members_out = tuple(tuple(g) for g in roots.values() if len(g) >= 2)
    group = np.full(n, -1, dtype=np.int32)
    for j, g in enumerate(members_out):
        group[list(g)] = j
    return Franchises(group=group, members=members_out)


# Every hand-checked pattern at once: titles matching none (nearly all) are passed over fast.
_ANY_HAND = re.compile("|".join(f"(?:{p})" for patterns in HAND.values() for p in patterns))
_END_ARTICLE_CUT = re.compile(r",\s*(the|a|an)$")
_HAND = [re.compile("|".join(f"(?:{p})" for p in patterns)) for patterns in HAND.values()]


def _join_hand_checked(folded: list[str], excluded: list[bool], union: _Union) -> None:
    # Also the article-stripped form: "Empire Strikes Back, The" -> "empire strikes back".
    forms = [(f, _END_ARTICLE_CUT.sub("", f)) for f in folded]
    candidates = [
        i
        for i, pair in enumerate(forms)
        if not excluded[i] and any(_ANY_HAND.search(x) for x in pair)
    ]
    for pattern in _HAND:
        members = [i for i in candidates if any(pattern.search(x) for x in forms[i])]
        for a in members[1:]:
            union(members[0], a)
