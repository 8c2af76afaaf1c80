"""Offline evaluation: the protocol runner behind `movierec evaluate`.

Every method (the two-tower model and the baselines) is fitted on the same
split and ranks the whole catalogue for each evaluated user; the top 10 are
compared with the user's relevant movies (see `recsys.splits`).

Metrics: `recsys.metrics.ranking`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from recsys.data.dataset import Dataset
from recsys.evaluation import baselines, naive
from recsys.evaluation.methods import ALL_METHODS, EASE_GRID, PROTOCOLS, WARM_ONLY
from recsys.evaluation.report import jsonable, safe_name, write_json, write_plots
from recsys.evaluation.scorer import EmbeddingScorer, Scorer, has_embeddings, predicts_ratings
from recsys.evaluation.splits import EvalSplit, EvalUser, make_split, warm_split
from recsys.features.queries import UserQuery
from recsys.metrics.ranking import K, ranking_metrics, rmse, top_k
from recsys.model.towers import TrainedModel
from recsys.training.config import TrainConfig
from recsys.training.fit import fit

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- ranking


def rank_split(
    scorer: Scorer, split: EvalSplit, k: int = K, batch_users: int = 256, progress: bool = False
) -> np.ndarray:
    """Top-k dense movie indices (n_users, k) of `scorer` for every user of `split`."""
    n_movies = len(split.train.movies)
    users = split.users
    out = np.full((len(users), k), -1, dtype=np.int64)
    label = f"{split.protocol}: {getattr(scorer, 'name', 'scoring')}"
    starts = range(0, len(users), batch_users)
    for s in tqdm(starts, desc=label, unit="batch", disable=not progress, leave=False):
        batch = users[s : s + batch_users]
        scores = np.array(scorer.score(batch), dtype=np.float64)
        if scores.shape != (len(batch), n_movies):
            raise ValueError(
                f"{label} returned scores of shape {scores.shape}, "
                f"expected ({len(batch)}, {n_movies})"
            )
        for r, ex in enumerate(split.exclude[s : s + batch_users]):
            scores[r, ex] = -np.inf
        out[s : s + len(batch)] = top_k(scores, k)
    return out


def split_rmse(scorer: Scorer, split: EvalSplit) -> float | None:
    """RMSE over every test rating of the evaluated users, if `scorer` predicts ratings."""
    if not predicts_ratings(scorer):
        return None
    by_id = {u.user_id: u for u in split.users}
    t = split.test_ratings[split.test_ratings["user_id"].isin(list(by_id))]
    if len(t) == 0:
        return None
    users = [by_id[int(u)] for u in t["user_id"]]
    movie_index = pd.Index(split.catalogue).get_indexer(pd.Index(t["movie_id"].to_numpy()))
    pred = np.concatenate(
        [
            scorer.predict(users[s : s + 8192], movie_index[s : s + 8192])
            for s in range(0, len(users), 8192)
        ]
    )
    return rmse(pred, t["rating"].to_numpy(dtype=np.float64))


# --------------------------------------------------------------------------- the model


@dataclass
class ModelScorer:
    """The trained two-tower model behind the same `score(users)` as the baselines."""

    model: TrainedModel
    catalogue: np.ndarray  # movie ids in movies-table order
    name: str = "model"
    _columns: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        ids = np.asarray(self.model.features.movie_ids, dtype=np.int64)
        cols = pd.Index(ids).get_indexer(pd.Index(self.catalogue))
        identity = len(ids) == len(self.catalogue) and (cols == np.arange(len(cols))).all()
        self._columns = None if identity else cols

    @property
    def curves(self) -> dict[str, list[float]]:
        return self.model.curves

    @property
    def movie_embeddings(self) -> np.ndarray:
        emb = np.asarray(self.model.movie_embeddings)
        if self._columns is None:
            return emb
        out = np.zeros((len(self.catalogue), emb.shape[1]), dtype=emb.dtype)
        out[self._columns >= 0] = emb[self._columns[self._columns >= 0]]
        return out

    def query(self, user: EvalUser) -> UserQuery:
        if user.known:
            return self.model.known_user_query(user.user_id)
        return self.model.preference_query(
            genres=user.stated_genres, age=user.age, occupation=user.occupation, gender=user.gender
        )

    def score(self, users: Sequence[EvalUser]) -> np.ndarray:
        scores = np.asarray(self.model.score([self.query(u) for u in users]), dtype=np.float64)
        if self._columns is None:
            return scores
        out = np.full((len(users), len(self.catalogue)), -np.inf)
        ok = self._columns >= 0
        out[:, ok] = scores[:, self._columns[ok]]
        return out


# --------------------------------------------------------------------------- EASE λ


def tune_ease_lambda(
    train: Dataset, grid: Sequence[float] = EASE_GRID, k: int = K, batch_users: int = 256
) -> tuple[float, dict[str, float]]:
    """Pick EASE's λ by NDCG@k on protocol W applied again inside the training part."""
    inner = warm_split(train)
    data = baselines.positives(baselines.train_data(inner.train))
    spectrum = baselines.EaseSpectrum.of(data)
    n_movies = data.n_movies
    tops: dict[float, list[np.ndarray]] = {lam: [] for lam in grid}
    for s in range(0, len(inner.users), batch_users):
        batch = inner.users[s : s + batch_users]
        x = baselines.history_rows(data, spectrum.active, batch)
        for lam in grid:
            scores = np.zeros((len(batch), n_movies))
            scores[:, spectrum.active] = spectrum.scores(x, lam)
            for r, ex in enumerate(inner.exclude[s : s + batch_users]):
                scores[r, ex] = -np.inf
            tops[lam].append(top_k(scores, k))
    results = {
        str(lam): ranking_metrics(np.vstack(t), inner.relevant, n_movies)[f"ndcg@{k}"]
        for lam, t in tops.items()
    }
    best = max(grid, key=lambda lam: results[str(lam)])
    return float(best), results


# --------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class EvalConfig:
    protocols: tuple[str, ...] = PROTOCOLS
    methods: tuple[str, ...] = ALL_METHODS
    seed: int = 0  # the splits' seed (the model's own is train.seed)
    k: int = K
    train: TrainConfig = field(default_factory=TrainConfig)
    naive_epochs: int = 5
    ease_lambda: float | None = None  # None = tune over ease_grid on the training part
    ease_grid: tuple[float, ...] = EASE_GRID
    batch_users: int = 256
    out: Path | None = None  # where to write <dataset>.json and plots; None = write nothing
    plots: bool = True
    progress: bool = True
    command: str = ""  # the command line, recorded in the JSON

    def __post_init__(self) -> None:
        bad = [p for p in self.protocols if p not in PROTOCOLS]
        if bad or not self.protocols:
            raise ValueError(
                f"unknown protocol(s) {bad or '(none)'}; choose from {', '.join(PROTOCOLS)}"
            )
        bad = [m for m in self.methods if m not in ALL_METHODS]
        if bad or not self.methods:
            raise ValueError(
                f"unknown model(s) {bad or '(none)'}; choose from {', '.join(ALL_METHODS)}"
            )
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")


def _fit(
    method: str, split: EvalSplit, data: baselines.TrainData, config: EvalConfig
) -> tuple[Scorer, dict[str, Any]]:
    """Fit one method on `split`; returns (scorer, extra JSON-able info)."""
    if method == "popularity":
        return baselines.fit_popularity(data), {}
    if method == "genre-popularity":
        return baselines.fit_genre_popularity(data), {}
    if method == "genre-content":
        return baselines.fit_genre_content(data), {}
    if method == "naive-two-tower":
        cfg = naive.NaiveConfig(epochs=config.naive_epochs, seed=config.seed)
        cold = split.protocol == "C"
        scorer = naive.fit_naive_two_tower(data, cfg, config.progress, stated_profiles=cold)
        return scorer, {**asdict(cfg), "profile": "stated genres" if cold else "liked-genre share"}
    if method == "ease":
        info: dict[str, Any] = {}
        lam = config.ease_lambda
        if lam is None:
            lam, info["tuning_ndcg"] = tune_ease_lambda(
                split.train, config.ease_grid, config.k, config.batch_users
            )
        info["lambda"] = lam
        return baselines.fit_ease(data, lam), info
    if method == "model":
        model = fit(split.train, config.train, progress=config.progress)
        return ModelScorer(model, split.catalogue), {
            "training": jsonable(model.training),
            "model_config": jsonable(asdict(model.config)),
        }
    raise ValueError(f"unknown model {method!r}; choose from {', '.join(ALL_METHODS)}")


def evaluate_dataset(dataset: Dataset, config: EvalConfig = EvalConfig()) -> dict[str, Any]:
    """Fit every method of `config` on each protocol's split of `dataset` and measure it.

    Returns a JSON-able report; with `config.out` set it is also written to
    `<out>/<dataset>.json`, next to the plots.
    """
    k = config.k
    result: dict[str, Any] = {
        "dataset": dataset.name,
        "format": dataset.format,
        "command": config.command,
        "seed": config.seed,
        "config": jsonable(asdict(config)),
        "catalogue_size": int(len(dataset.movies)),
        "ratings": int(len(dataset.ratings)),
        "splits": {},
        "metrics": {},
        "timings": {},
        "details": {},
        "plots": [],
    }
    plotted: dict[str, tuple[str, EmbeddingScorer]] = {}
    for protocol in config.protocols:
        t0 = time.perf_counter()
        split = make_split(dataset, protocol, seed=config.seed)
        data = baselines.train_data(split.train)
        result["splits"][protocol] = {
            "train_ratings": int(len(split.train.ratings)),
            "test_ratings": int(len(split.test_ratings)),
            "evaluated_users": len(split.users),
            "skipped_users": split.skipped_users,
            "relevant_per_user": float(np.mean([len(r) for r in split.relevant]))
            if split.relevant
            else 0.0,
            "split_s": round(time.perf_counter() - t0, 3),
        }
        if not split.users:
            log.warning("protocol %s: no user has a relevant test movie; skipped", protocol)
            continue
        metrics: dict[str, dict[str, float]] = {}
        timings: dict[str, dict[str, float]] = {}
        details: dict[str, dict[str, Any]] = {}
        for method in config.methods:
            if protocol == "C" and method in WARM_ONLY:
                continue
            log.info("protocol %s: fitting %s", protocol, method)
            t_fit = time.perf_counter()
            scorer, info = _fit(method, split, data, config)
            fit_s = time.perf_counter() - t_fit
            t_score = time.perf_counter()
            top = rank_split(scorer, split, k, config.batch_users, config.progress)
            m = ranking_metrics(top, split.relevant, len(dataset.movies))
            err = split_rmse(scorer, split)
            if err is not None:
                m["rmse"] = err
            metrics[method] = m
            timings[method] = {
                "fit_s": round(fit_s, 3),
                "score_s": round(time.perf_counter() - t_score, 3),
            }
            if info:
                details[method] = info
            if method not in plotted and has_embeddings(scorer):
                plotted[method] = (protocol, scorer)
        result["metrics"][protocol] = metrics
        result["timings"][protocol] = timings
        result["details"][protocol] = details
    if config.out is not None:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = safe_name(dataset.name)
        if config.plots:
            for method, (protocol, scorer) in plotted.items():
                result["plots"] += write_plots(scorer, dataset, out, f"{stem}_{protocol}_{method}")
        write_json(out / f"{stem}.json", result)
    return result
