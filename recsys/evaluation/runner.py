"""Offline evaluation: the protocol runner behind `movierec evaluate`.

Every method (the two-tower model and the baselines) is fitted on the same
split and answers for each evaluated user; the top 10 are compared with the
user's relevant movies (see `recsys.evaluation.splits` and, for protocol F,
`recsys.evaluation.conversation`, which reuses protocol C's split and models).
The model is trained once per training seed; its numbers are per-user means over
the seeds, with a paired bootstrap interval against every other method.

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

from recsys.data.dataset import Dataset
from recsys.evaluation import baselines, naive
from recsys.evaluation.answers import ModelScorer, rank_split, split_rmse
from recsys.evaluation.conversation import Conversation, conversation_splits, without_liked
from recsys.evaluation.measure import Measured, compare, measure
from recsys.evaluation.methods import (
    ALL_METHODS,
    CONVERSATION_METHODS,
    EASE_GRID,
    NEEDS_HISTORY,
    NO_LIKED,
    PROTOCOLS,
    TOWERS,
)
from recsys.evaluation.preference_answers import RankedPreferences
from recsys.evaluation.report import jsonable, safe_name, write_json, write_plots
from recsys.evaluation.scorer import Answerer, EmbeddingScorer, has_embeddings
from recsys.evaluation.splits import EvalSplit, make_split, warm_split
from recsys.metrics.ranking import K, ranking_metrics, top_k
from recsys.training.config import TrainConfig
from recsys.training.fit import fit

log = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class EvalConfig:
    protocols: tuple[str, ...] = PROTOCOLS
    methods: tuple[str, ...] = ALL_METHODS
    seed: int = 0  # the splits' seed
    seeds: tuple[int, ...] = ()  # the model's training seeds; () = train.seed alone
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
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"training seeds must differ, got {list(self.seeds)}")

    @property
    def train_seeds(self) -> tuple[int, ...]:
        return self.seeds or (self.train.seed,)


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One protocol a fitted method answers on: its split, and F's tail relevant movies."""

    label: str
    split: EvalSplit
    conversation: Conversation | None = None


def _targets(split: EvalSplit, protocols: Sequence[str]) -> list[Target]:
    """The protocols answered from one split: W alone, or C and F (from C's split)."""
    if split.protocol == "W":
        return [Target("W", split)]
    targets = [Target("C", split)] if "C" in protocols else []
    if "F" in protocols:
        targets += [Target(c.label, c.split, c) for c in conversation_splits(split)]
    return targets


def _runs_on(method: str, label: str) -> bool:
    if label.startswith("F"):
        return method in CONVERSATION_METHODS
    return not (label == "C" and method in NEEDS_HISTORY)


def _split_stats(split: EvalSplit) -> dict[str, Any]:
    return {
        "train_ratings": int(len(split.train.ratings)),
        "test_ratings": int(len(split.test_ratings)),
        "evaluated_users": len(split.users),
        "skipped_users": split.skipped_users,
        "relevant_per_user": float(np.mean([len(r) for r in split.relevant]))
        if split.relevant
        else 0.0,
    }


# --------------------------------------------------------------------------- fitting


@dataclass
class Fitted:
    """One method fitted on one split: its top lists per target (one per training seed)."""

    lists: dict[tuple[str, str], list[np.ndarray]] = field(default_factory=dict)  # (target, name)
    rmse: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    fit_s: float = 0.0
    score_s: float = 0.0
    plot: EmbeddingScorer | None = None

    def answer(self, name: str, method: Answerer, target: Target, config: EvalConfig) -> None:
        t0 = time.perf_counter()
        split = target.split
        top = rank_split(method, split, config.k, config.batch_users, config.progress)
        self.lists.setdefault((target.label, name), []).append(top)
        err = split_rmse(method, split)
        if err is not None:
            self.rmse.setdefault((target.label, name), []).append(err)
        if self.plot is None and has_embeddings(method):
            self.plot = method
        self.score_s += time.perf_counter() - t0


def _fit_baseline(
    method: str, split: EvalSplit, data: baselines.TrainData, config: EvalConfig
) -> tuple[Answerer, dict[str, Any]]:
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
    raise ValueError(f"unknown model {method!r}; choose from {', '.join(ALL_METHODS)}")


def _fit(
    method: str,
    split: EvalSplit,
    data: baselines.TrainData,
    targets: Sequence[Target],
    config: EvalConfig,
) -> Fitted:
    """Fit `method` on `split` (the model once per training seed) and answer every target."""
    done = Fitted()
    if method != "model":
        t0 = time.perf_counter()
        answerer, done.info = _fit_baseline(method, split, data, config)
        done.fit_s = time.perf_counter() - t0
        for target in targets:
            done.answer(method, answerer, target, config)
        return done
    runs = []
    for seed in config.train_seeds:
        log.info("protocol %s: training the model, seed %d", split.protocol, seed)
        t0 = time.perf_counter()
        model = fit(split.train, config.train.with_values(seed=seed), progress=config.progress)
        done.fit_s += time.perf_counter() - t0
        runs.append({"seed": seed, "training": model.training})
        done.info["model_config"] = asdict(model.config)
        towers = ModelScorer(model, split.catalogue)
        if split.protocol == "W":  # known users: the towers with the item-item part
            answerers: dict[str, Answerer] = {"model": towers}
        else:  # new users: the recipe, and the towers' own scores beside it
            recipe = RankedPreferences.of(model, split.train.movies)
            answerers = {"model": recipe, TOWERS: towers}
        for target in targets:
            for name, answerer in answerers.items():
                done.answer(name, answerer, target, config)
            if target.conversation is not None:
                bare = Target(target.label, without_liked(target.split), target.conversation)
                done.answer(NO_LIKED, answerers["model"], bare, config)
    done.info["runs"] = runs
    return done


# --------------------------------------------------------------------------- runner


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
        "training_seeds": list(config.train_seeds),
        "config": jsonable(asdict(config)),
        "catalogue_size": int(len(dataset.movies)),
        "ratings": int(len(dataset.ratings)),
        "splits": {},
        "metrics": {},
        "intervals": {},
        "timings": {},
        "details": {},
        "plots": [],
    }
    plotted: dict[str, tuple[str, EmbeddingScorer]] = {}
    bases = [
        p for p in ("W", "C") if p in config.protocols or (p == "C" and "F" in config.protocols)
    ]
    for base in bases:
        t0 = time.perf_counter()
        split = make_split(dataset, base, seed=config.seed)
        data = baselines.train_data(split.train)
        targets = _targets(split, config.protocols)
        for target in targets:
            result["splits"][target.label] = _split_stats(target.split)
            if target.conversation is not None:
                conv = target.conversation
                result["splits"][conv.tail_label] = {"evaluated_users": len(conv.tail_users)}
        result["splits"][targets[0].label]["split_s"] = round(time.perf_counter() - t0, 3)
        if not split.users:
            log.warning("protocol %s: no user has a relevant test movie; skipped", base)
            continue
        measured: dict[str, dict[str, Measured]] = {}
        for method in config.methods:
            mine = [t for t in targets if _runs_on(method, t.label) and t.split.users]
            if not mine:
                continue
            log.info("protocol %s: fitting %s", base, method)
            done = _fit(method, split, data, mine, config)
            _measure_into(measured, done, mine, len(dataset.movies))
            result["timings"].setdefault(base, {})[method] = {
                "fit_s": round(done.fit_s, 3),
                "score_s": round(done.score_s, 3),
            }
            if done.info:
                result["details"].setdefault(base, {})[method] = jsonable(done.info)
            if done.plot is not None and method not in plotted:
                plotted[method] = (base, done.plot)
        for label, methods in measured.items():
            result["metrics"][label] = {name: m.summary for name, m in methods.items()}
            if "model" in methods:
                others = {name: m for name, m in methods.items() if name != "model"}
                result["intervals"][label] = compare(methods["model"], others, k, config.seed)
    if config.out is not None:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = safe_name(dataset.name)
        if config.plots:
            for method, (protocol, scorer) in plotted.items():
                result["plots"] += write_plots(scorer, dataset, out, f"{stem}_{protocol}_{method}")
        write_json(out / f"{stem}.json", result)
    return result


def _measure_into(
    measured: dict[str, dict[str, Measured]],
    done: Fitted,
    targets: Sequence[Target],
    n_movies: int,
) -> None:
    """Each target's numbers for every answer `done` holds (F-tail from F's own lists)."""
    for target in targets:
        for (label, name), tops in done.lists.items():
            if label != target.label:
                continue
            m = measure(tops, target.split.relevant, n_movies)
            if (label, name) in done.rmse:
                m.summary["rmse"] = float(np.mean(done.rmse[label, name]))
            measured.setdefault(label, {})[name] = m
            conv = target.conversation
            users = conv.tail_users if conv is not None else np.zeros(0, dtype=np.int64)
            if conv is not None and len(users):
                tail = measure(tops, conv.tail, n_movies, users)
                measured.setdefault(conv.tail_label, {})[name] = tail
