"""Calibrations fitted on a training's validation users: scores as the chance a person likes
the movie, for every tool that ranks (`recsys.model.artifacts`' three forms).

- Preferences: the cold validation users, described by their stated genres and
  demographics and their N earliest likes (N = 0 for everyone, 1, 3 and 5 for
  those with 6 or more likes), ranked by the validation network's
  `PreferenceRanker`; each top-10 pick is a row, liked if among the user's
  other likes. Logistic on [1, score, log1p(N), log1p(rank - 1), head].
- Similar movies: pairs (a movie a cold validation user liked, each of its 10
  nearest neighbours by the blend over the fit split), liked if the user liked
  the neighbour too; sigmoid(w0 + w1 L + w2 / sqrt(1 + n) + exp(w3 + w4 L) s),
  monotone in the blend s for every anchor (n its ratings, L = log(1 + n)). Each
  doubling of n weighs alike in the fit (`support_balance`): pairs of popular
  anchors outnumber the rest, and unweighted they set the scale for every anchor
  (ML-100K, anchors with under 10 ratings: 0.20 predicted, 0.11 observed).
- Known users (dataset users and profiles): the cold validation users known by
  their first h ratings (1 to 200), their top 10 by the validation model (with
  its item-item part), liked if among their later likes; logistic on
  [1, z(score), log1p(rank - 1), log1p(h)], z over the catalogue. Later likes,
  not the warm users' held-out tenth, so that a chance means what it means for
  stated preferences (a warm user's next tenth holds few of the movies they will
  like, and a profile of 5 ratings read 0.06 where the same person stating
  preferences read 0.4).

Reliability is measured out of fold (fitted on one half of the users, predicted
on the other, both ways) and written into the training record; the shipped
coefficients are then fitted on all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from recsys.features.queries import Demographics
from recsys.model.artifacts import (
    Calibrations,
    KnownUserCalibration,
    Likes,
    Neighbours,
    RankingArtifacts,
    ScoreCalibration,
    SimilarityCalibration,
)
from recsys.model.query_model import QueryModel
from recsys.ranking.calibration import Reliability, rank_term, reliability
from recsys.ranking.facts import CatalogueFacts
from recsys.ranking.neighbours import Content, top_neighbours
from recsys.ranking.preferences import PreferenceRanker
from recsys.ranking.requests import PreferenceRequest
from recsys.ranking.terms import standardise
from recsys.training.validation import Validation

# Used where a training has no validation users to fit on (--set val_share=0, tiny data):
# the shipped model's own fits (models/default/model.json, ml-latest-small).
FALLBACK = Calibrations(
    preferences=ScoreCalibration(bias=-2.788, score=0.398, n_liked=-0.427, rank=-0.287, head=0.181),
    similarity=SimilarityCalibration(
        bias=-1.869, support=-0.090, inverse_root=-1.807, slope_bias=0.517, slope_support=0.045
    ),
    known_users=KnownUserCalibration(bias=-1.593, z=0.082, rank=-0.051, history=-0.012),
    fitted_on="fallback",
)
LIKED_GIVEN = (0, 1, 3, 5)  # liked movies named per preference request (protocol F's N)
MIN_LIKES_GIVEN = 6  # a user names N of them only with at least this many likes
TOP = 10
SIMILAR_TOP = 10
HISTORY_SIZES = (1, 2, 3, 5, 10, 20, 50, 100, 200)  # ratings a known person has given
MIN_ROWS = 50  # fewer rows (or no liked / no unliked one) keep the fallback
RIDGE = 1e-4


@dataclass(frozen=True)
class Rows:
    """One calibration's data: a design matrix, whether each row was liked, whose row it is,
    and how much each row weighs in the fit (None: alike)."""

    x: np.ndarray  # float64 (rows, features)
    liked: np.ndarray  # float64 (rows,), 0/1
    user: np.ndarray  # int64 (rows,): the validation user (for the out-of-fold split)
    weight: np.ndarray | None = None  # float64 (rows,)

    def subset(self, keep: np.ndarray) -> Rows:
        weight = None if self.weight is None else self.weight[keep]
        return Rows(self.x[keep], self.liked[keep], self.user[keep], weight)

    @classmethod
    def stack(cls, x: list[list[float]], liked: list[float], user: list[int], width: int) -> Rows:
        return cls(
            np.asarray(x, dtype=np.float64).reshape(-1, width),
            np.asarray(liked, dtype=np.float64),
            np.asarray(user, dtype=np.int64),
        )

    @property
    def usable(self) -> bool:
        return len(self.liked) >= MIN_ROWS and 0 < self.liked.sum() < len(self.liked)


Logits = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def linear(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return x @ w


def similarity_form(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """x = [blend, anchor ratings]: the monotone form of `SimilarityCalibration`."""
    support = torch.log1p(x[:, 1])
    return (
        w[0]
        + w[1] * support
        + w[2] / torch.sqrt(1.0 + x[:, 1])
        + torch.exp(w[3] + w[4] * support) * x[:, 0]
    )


def fit_coefficients(rows: Rows, logits: Logits, n: int) -> np.ndarray:
    """Coefficients maximising the likelihood of `rows.liked` (L-BFGS, a whisper of ridge)."""
    x = torch.from_numpy(rows.x)
    y = torch.from_numpy(rows.liked)
    weight = torch.ones_like(y) if rows.weight is None else torch.from_numpy(rows.weight)
    weight = weight / weight.sum()
    w = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        each = torch.nn.functional.binary_cross_entropy_with_logits(
            logits(w, x), y, reduction="none"
        )
        loss = (each * weight).sum()
        loss = loss + RIDGE * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    out: np.ndarray = w.detach().numpy().copy()
    return out


def out_of_fold(rows: Rows, logits: Logits, n: int) -> Reliability:
    """Reliability of predictions for each half of the users from a fit on the other half."""
    predicted = np.zeros(len(rows.liked))
    for half in (0, 1):
        train = rows.user % 2 != half
        w = torch.from_numpy(fit_coefficients(rows.subset(train), logits, n))
        with torch.no_grad():
            z = logits(w, torch.from_numpy(rows.x[~train]))
        predicted[~train] = torch.sigmoid(z).numpy()
    return reliability(predicted, rows.liked)


def fit_calibrations(
    model: QueryModel, facts: CatalogueFacts, likes: Likes, validation: Validation
) -> tuple[Calibrations, dict[str, Any]]:
    """The three calibrations on the validation model (`model`, over the fit split) and its
    validation users, and the training record's reliability section."""
    ranker = PreferenceRanker(
        model, RankingArtifacts(Neighbours.empty(facts.n_movies), likes, FALLBACK), facts
    )
    parts = {
        "preferences": (preference_rows(ranker, validation), linear, 5),
        "similarity": (similarity_rows(model, facts, validation), similarity_form, 5),
        "known_users": (known_user_rows(model, validation), linear, 4),
    }
    fallback = asdict(FALLBACK)
    fitted: dict[str, Any] = {}
    record: dict[str, Any] = {}
    for name, (rows, logits, n) in parts.items():
        if not rows.usable:
            fitted[name] = fallback[name]
            record[name] = {"fitted_on": "fallback", "rows": len(rows.liked)}
            continue
        fields = list(fallback[name])
        coefficients = fit_coefficients(rows, logits, n)
        fitted[name] = dict(zip(fields, map(float, coefficients), strict=True))
        check = out_of_fold(rows, logits, n)
        record[name] = {
            "fitted_on": "validation",
            "rows": len(rows.liked),
            "liked_share": float(rows.liked.mean()),
            "coefficients": fitted[name],
            "out_of_fold_ece": check.ece,
            "bins": [[b.low, b.high, b.count, b.predicted, b.observed] for b in check.bins],
        }
    everywhere = all(r["fitted_on"] == "validation" for r in record.values())
    stored = {**fitted, "fitted_on": "validation" if everywhere else "fallback"}
    return Calibrations.from_stored(stored), record


def preference_rows(ranker: PreferenceRanker, validation: Validation) -> Rows:
    x: list[list[float]] = []
    liked: list[float] = []
    user: list[int] = []
    cold = range(validation.n_cold)
    for u in cold:
        query, likes = validation.queries[u], validation.relevant[u]
        for n in LIKED_GIVEN:
            if n and len(likes) < MIN_LIKES_GIVEN:
                continue
            request = PreferenceRequest(
                genres=tuple((g,) for g in query.stated_genres),
                gender=query.gender,
                age=query.age,
                occupation=query.occupation,
                liked=tuple(int(i) for i in likes[:n]),
                k=TOP,
            )
            ranked = ranker.rank(request)
            relevant = set(likes[n:].tolist())
            ranks = rank_term(len(ranked.items))
            head = ranker.facts.head[ranked.items]
            for r, j in enumerate(ranked.items.tolist()):
                x.append([1.0, float(ranked.scores[r]), np.log1p(n), ranks[r], float(head[r])])
                liked.append(float(j in relevant))
                user.append(u)
    return Rows.stack(x, liked, user, 5)


def similarity_rows(model: QueryModel, facts: CatalogueFacts, validation: Validation) -> Rows:
    cold = range(validation.n_cold)
    if not validation.n_cold:
        return Rows.stack([], [], [], 2)
    anchors = np.unique(np.concatenate([validation.relevant[u] for u in cold])).astype(np.int64)
    content = Content.of(facts, model.tower_directions)
    index, blend = top_neighbours(model.features, content, anchors, SIMILAR_TOP)
    row_of = {int(a): r for r, a in enumerate(anchors)}
    x: list[list[float]] = []
    liked: list[float] = []
    user: list[int] = []
    for u in cold:
        likes = set(validation.relevant[u].tolist())
        for a in sorted(likes):
            r = row_of[a]
            for j, s in zip(index[r].tolist(), blend[r].tolist(), strict=True):
                if j >= 0:
                    x.append([s, float(facts.counts[a])])
                    liked.append(float(j in likes))
                    user.append(u)
    rows = Rows.stack(x, liked, user, 2)
    return replace(rows, weight=support_balance(rows.x[:, 1]))


def support_balance(ratings: np.ndarray) -> np.ndarray:
    """Row weights under which each doubling of the anchor's ratings weighs alike."""
    band = np.floor(np.log2(1.0 + np.asarray(ratings, dtype=np.float64))).astype(np.int64)
    rows_in = np.bincount(band)
    out: np.ndarray = 1.0 / rows_in[band]
    return out


def known_user_rows(model: QueryModel, validation: Validation) -> Rows:
    """Cold validation users known by their first h ratings (h in `HISTORY_SIZES`), as a
    person rating movies one by one is: their top 10 by the model, liked if among their
    later likes, the question the preference rows ask too."""
    fs = model.features
    queries, given, later, owner, sizes = [], [], [], [], []
    for u, (items, stars) in enumerate(validation.cold_histories):
        q = validation.queries[u]
        demographics = Demographics(gender=q.gender, age=q.age, occupation=q.occupation)
        for h in HISTORY_SIZES:
            rest = items[h:][stars[h:] >= fs.like_threshold]
            if h >= len(items) or not len(rest):
                break
            queries.append(fs.history_query(items[:h], stars[:h], demographics))
            given.append(items[:h])
            later.append(set(rest.tolist()))
            owner.append(u)
            sizes.append(h)
    x: list[list[float]] = []
    liked: list[float] = []
    user: list[int] = []
    for lo in range(0, len(queries), 256):
        hi = min(lo + 256, len(queries))
        z = standardise(model.score(queries[lo:hi]).astype(np.float64))
        for r, row in enumerate(range(lo, hi)):
            scores = z[r].copy()
            scores[given[row]] = -np.inf
            top = np.argsort(-scores, kind="stable")[:TOP]
            ranks = rank_term(len(top))
            history = np.log1p(sizes[row])
            for p, j in enumerate(top.tolist()):
                x.append([1.0, float(z[r, j]), ranks[p], history])
                liked.append(float(j in later[row]))
                user.append(owner[row])
    return Rows.stack(x, liked, user, 4)
