"""Offline evaluation: ranking metrics, the protocol runner and `movierec evaluate`.

Every method (the two-tower model and the baselines) is fitted on the same
split and ranks the whole catalogue for each evaluated user; the top 10 are
compared with the user's relevant movies (see `recsys.splits`).

Metrics @k, averaged over evaluated users (users without a relevant movie
are skipped by the split):
- Recall@k = hits / min(k, n_relevant), so a perfect list scores 1 even for
  users with more than k relevant movies.
- NDCG@k with binary relevance; the ideal DCG places min(k, n_relevant) hits
  at the top.
- HR@k = 1 if any hit.
- Coverage@k = distinct movies recommended to anyone / catalogue size.
- RMSE over every test rating of the evaluated users, for methods that
  predict ratings (the naive MSE two-tower).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shlex
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from recsys import baselines
from recsys.data import Dataset
from recsys.splits import EvalSplit, EvalUser, make_split, warm_split
from recsys.vocab import GENRES

log = logging.getLogger(__name__)

K = 10
PROTOCOLS = ("W", "C")
ALL_METHODS = (
    "popularity",
    "genre-popularity",
    "genre-content",
    "naive-two-tower",
    "ease",
    "model",
)
WARM_ONLY = frozenset({"ease"})  # needs a rating history
EASE_GRID = (50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0)
DEFAULT_OUT = Path("bench/results/eval")


# --------------------------------------------------------------------------- metrics


def top_k(scores: np.ndarray, k: int = K) -> np.ndarray:
    """Indices of the k best scores per row, best first; -1 where fewer than k are finite.

    Equal scores are ordered by index, so rankings are deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[1]
    k_eff = min(k, n)
    if k_eff == 0:
        return np.full((scores.shape[0], k), -1, dtype=np.int64)
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    top = np.where(np.isfinite(np.take_along_axis(scores, top, axis=1)), top, -1)
    if k_eff < k:
        top = np.hstack([top, np.full((top.shape[0], k - k_eff), -1, dtype=top.dtype)])
    return top.astype(np.int64)


def hit_matrix(top: np.ndarray, relevant: Sequence[np.ndarray]) -> np.ndarray:
    """bool (n_users, k): whether each recommended movie is relevant for that user."""
    hits = np.zeros(top.shape, dtype=bool)
    for r, rel in enumerate(relevant):
        hits[r] = np.isin(top[r], rel) & (top[r] >= 0)
    return hits


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    return hits.sum(1) / np.maximum(np.minimum(k, n_relevant), 1)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc[None, :]).sum(1)
    ideal = np.cumsum(disc)[np.clip(np.minimum(k, n_relevant) - 1, 0, k - 1)]
    return np.where(n_relevant > 0, dcg / ideal, 0.0)


def hit_rate_at_k(hits: np.ndarray) -> np.ndarray:
    return hits.any(1).astype(np.float64)


def coverage_at_k(top: np.ndarray, n_movies: int) -> float:
    shown = np.unique(top[top >= 0])
    return len(shown) / n_movies if n_movies else 0.0


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(truth)) ** 2)))


def ranking_metrics(top: np.ndarray, relevant: Sequence[np.ndarray], n_movies: int) -> dict:
    k = top.shape[1]
    n_rel = np.array([len(r) for r in relevant], dtype=np.int64)
    hits = hit_matrix(top, relevant)
    return {
        f"ndcg@{k}": float(ndcg_at_k(hits, n_rel).mean()) if len(n_rel) else math.nan,
        f"recall@{k}": float(recall_at_k(hits, n_rel).mean()) if len(n_rel) else math.nan,
        f"hr@{k}": float(hit_rate_at_k(hits).mean()) if len(n_rel) else math.nan,
        f"coverage@{k}": coverage_at_k(top, n_movies),
        "users": int(len(n_rel)),
    }


# --------------------------------------------------------------------------- ranking


def rank_split(
    scorer, split: EvalSplit, k: int = K, batch_users: int = 256, progress: bool = False
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


def split_rmse(scorer, split: EvalSplit) -> float | None:
    """RMSE over every test rating of the evaluated users, if `scorer` predicts ratings."""
    predict = getattr(scorer, "predict", None)
    if predict is None:
        return None
    by_id = {u.user_id: u for u in split.users}
    t = split.test_ratings[split.test_ratings["user_id"].isin(list(by_id))]
    if len(t) == 0:
        return None
    users = [by_id[int(u)] for u in t["user_id"]]
    movie_index = pd.Index(split.catalogue).get_indexer(t["movie_id"].to_numpy())
    pred = np.concatenate(
        [
            predict(users[s : s + 8192], movie_index[s : s + 8192])
            for s in range(0, len(users), 8192)
        ]
    )
    return rmse(pred, t["rating"].to_numpy(dtype=np.float64))


# --------------------------------------------------------------------------- the model


@dataclass
class ModelScorer:
    """The trained two-tower model behind the same `score(users)` as the baselines."""

    model: object  # recsys.model.TrainedModel
    catalogue: np.ndarray  # movie ids in movies-table order
    name: str = "model"
    _columns: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        ids = np.asarray(self.model.features.movie_ids, dtype=np.int64)
        cols = pd.Index(ids).get_indexer(self.catalogue)
        identity = len(ids) == len(self.catalogue) and (cols == np.arange(len(cols))).all()
        self._columns = None if identity else cols

    @property
    def curves(self) -> dict:
        return self.model.curves

    @property
    def movie_embeddings(self) -> np.ndarray:
        emb = np.asarray(self.model.movie_embeddings)
        if self._columns is None:
            return emb
        out = np.zeros((len(self.catalogue), emb.shape[1]), dtype=emb.dtype)
        out[self._columns >= 0] = emb[self._columns[self._columns >= 0]]
        return out

    def query(self, user: EvalUser):
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
    tops = {lam: [] for lam in grid}
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
    seed: int = 0
    k: int = K
    epochs: int | None = None  # the model's epoch bound; None = TrainConfig's default
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


def _fit(method: str, split: EvalSplit, data: baselines.TrainData, config: EvalConfig):
    """Fit one method on `split`; returns (scorer, extra JSON-able info)."""
    if method == "popularity":
        return baselines.fit_popularity(data), {}
    if method == "genre-popularity":
        return baselines.fit_genre_popularity(data), {}
    if method == "genre-content":
        return baselines.fit_genre_content(data), {}
    if method == "naive-two-tower":
        cfg = baselines.NaiveConfig(epochs=config.naive_epochs, seed=config.seed)
        cold = split.protocol == "C"
        scorer = baselines.fit_naive_two_tower(data, cfg, config.progress, stated_profiles=cold)
        return scorer, {**asdict(cfg), "profile": "stated genres" if cold else "liked-genre share"}
    if method == "ease":
        info: dict = {}
        lam = config.ease_lambda
        if lam is None:
            lam, info["tuning_ndcg"] = tune_ease_lambda(
                split.train, config.ease_grid, config.k, config.batch_users
            )
        info["lambda"] = lam
        return baselines.fit_ease(data, lam), info
    if method == "model":
        from recsys.train import TrainConfig, fit

        overrides = {"seed": config.seed}
        if config.epochs is not None:
            overrides["epochs"] = config.epochs
        model = fit(split.train, TrainConfig(**overrides), progress=config.progress)
        return ModelScorer(model, split.catalogue), {
            "train_config": _jsonable(model.train_config),
            "model_config": _jsonable(model.model_config),
        }
    raise ValueError(f"unknown model {method!r}; choose from {', '.join(ALL_METHODS)}")


def evaluate_dataset(dataset: Dataset, config: EvalConfig = EvalConfig()) -> dict:
    """Fit every method of `config` on each protocol's split of `dataset` and measure it.

    Returns a JSON-able report; with `config.out` set it is also written to
    `<out>/<dataset>.json`, next to the plots.
    """
    k = config.k
    result: dict = {
        "dataset": dataset.name,
        "format": dataset.format,
        "command": config.command,
        "seed": config.seed,
        "config": _jsonable(asdict(config)),
        "catalogue_size": int(len(dataset.movies)),
        "ratings": int(len(dataset.ratings)),
        "splits": {},
        "metrics": {},
        "timings": {},
        "details": {},
        "plots": [],
    }
    plotted: dict[str, object] = {}
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
        metrics, timings, details = {}, {}, {}
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
            if method not in plotted and hasattr(scorer, "movie_embeddings"):
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
        _write_json(out / f"{stem}.json", result)
    return result


# --------------------------------------------------------------------------- output


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "dataset"


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write via a temporary sibling and rename, so a reader never sees half a file."""
    # A plain new file (not mkstemp's 0600) so the result gets the usual permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(path: Path, payload: dict) -> None:
    text = json.dumps(_jsonable(payload), indent=2) + "\n"
    _atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components of the rows of x, via SVD of the centred matrix."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    if comps.shape[0] < 2:
        comps = np.vstack([comps, np.zeros((2 - comps.shape[0], x.shape[1]))])
    return centred @ comps.T


def write_plots(scorer, dataset: Dataset, out: Path, stem: str) -> list[str]:
    """Training curves (when the scorer has them) and a PCA map of its movie embeddings.

    matplotlib is an optional extra (`pip install movierec[plots]`): without it the
    numbers are still written and the plots are skipped with a note.
    """
    try:
        import matplotlib
    except ImportError:
        log.warning("matplotlib is not installed: skipping plots (pip install 'movierec[plots]')")
        return []

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    curves = {
        name: values
        for name, values in (getattr(scorer, "curves", None) or {}).items()
        if name != "val_epoch" and values
    }
    if curves:
        fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.5), squeeze=False)
        for ax, (name, values) in zip(axes[0], curves.items(), strict=True):
            xs = scorer.curves.get("val_epoch") if name.startswith("val_") else None
            if not xs or len(xs) != len(values):
                xs = list(range(1, len(values) + 1))
            ax.plot(xs, values, marker="o", markersize=3)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.grid(alpha=0.3)
        fig.suptitle(f"{dataset.name}: {stem.rsplit('_', 1)[-1]} training")
        fig.tight_layout()
        written.append(_save_fig(fig, out / f"{stem}_curves.png"))
        plt.close(fig)

    emb = np.asarray(scorer.movie_embeddings)
    if emb.ndim == 2 and emb.shape[0] >= 2:
        xy = pca_2d(emb)
        first = [gs[0] if len(gs) else "(none)" for gs in dataset.movies["genres"]]
        labels = [g for g in (*GENRES, "(none)") if g in set(first)]
        cmap = plt.get_cmap("tab20")
        fig, ax = plt.subplots(figsize=(8, 6.5))
        first_arr = np.array(first, dtype=object)
        for i, g in enumerate(labels):
            sel = first_arr == g
            ax.scatter(xy[sel, 0], xy[sel, 1], s=4, alpha=0.6, color=cmap(i % 20), label=g)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        method = stem.rsplit("_", 1)[-1]
        ax.set_title(f"{dataset.name}: movie embeddings ({method}), by first genre")
        ax.legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        written.append(_save_fig(fig, out / f"{stem}_embeddings.png"))
        plt.close(fig)
    return written


def _save_fig(fig, path: Path) -> str:
    _atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    return path.name


def format_table(result: dict) -> str:
    k = result["config"]["k"]
    cols = [f"ndcg@{k}", f"recall@{k}", f"hr@{k}", f"coverage@{k}", "rmse"]
    header = ["protocol", "model", *cols, "users", "fit s"]
    rows = []
    for protocol, methods in result["metrics"].items():
        for method, m in methods.items():
            t = result["timings"][protocol][method]
            cells = [f"{m[c]:.4f}" if c in m and m[c] is not None else "-" for c in cols]
            rows.append([protocol, method, *cells, str(m["users"]), f"{t['fit_s']:.1f}"])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- command


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="measure the model and the baselines under protocols W and C",
        description="Fit the two-tower model and the baselines on the same splits of a dataset "
        "(W: last 20% of each user's ratings; C: 20% of users held out, described by "
        "demographics and 3 stated genres), print NDCG/Recall/HR/coverage@10, and write "
        "<out>/<dataset>.json plus plots.",
    )
    p.add_argument("--dataset", default="default", help="dataset name or directory")
    p.add_argument("--protocols", default="W,C", help="comma-separated: W, C (default W,C)")
    p.add_argument(
        "--models",
        default=",".join(ALL_METHODS),
        help=f"comma-separated subset of: {', '.join(ALL_METHODS)} (default all)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"(default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0, help="split and training seed (default 0)")
    p.add_argument("--epochs", type=int, default=None, help="the model's epoch bound")
    p.add_argument("--naive-epochs", type=int, default=5, help="naive two-tower epochs (5)")
    p.add_argument("--ease-lambda", type=float, default=None, help="fix EASE's λ (default: tuned)")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the plots")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=main)
    return p


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    return EvalConfig(
        protocols=tuple(p.upper() for p in _csv(args.protocols)),
        methods=_csv(args.models),
        seed=args.seed,
        epochs=args.epochs,
        naive_epochs=args.naive_epochs,
        ease_lambda=args.ease_lambda,
        out=args.out,
        plots=args.plots,
        progress=not args.quiet,
        command=shlex.join(["movierec", *sys.argv[1:]]) if sys.argv else "",
    )


def main(args: argparse.Namespace) -> int:
    from recsys.data import DataError, load_dataset
    from recsys.download import resolve_dataset

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    try:
        config = config_from_args(args)
        dataset = load_dataset(resolve_dataset(args.dataset))
    except (DataError, FileNotFoundError, ValueError) as exc:
        print(f"movierec evaluate: {exc}", file=sys.stderr)
        return 2
    try:
        result = evaluate_dataset(dataset, config)
    except ValueError as exc:
        print(f"movierec evaluate: {exc}", file=sys.stderr)
        return 2
    print(f"{dataset.name}: {len(dataset.ratings)} ratings, {len(dataset.movies)} movies")
    print(format_table(result))
    out = Path(config.out)
    print(f"wrote {out / (safe_name(dataset.name) + '.json')}", file=sys.stderr)
    for name in result["plots"]:
        print(f"wrote {out / name}", file=sys.stderr)
    return 0


__all__ = [
    "EvalConfig",
    "ModelScorer",
    "coverage_at_k",
    "evaluate_dataset",
    "hit_rate_at_k",
    "ndcg_at_k",
    "rank_split",
    "ranking_metrics",
    "recall_at_k",
    "tune_ease_lambda",
]
