"""`fit`: train the two-tower model on a dataset, then fit and join its item-item part and
compute what its rankers read.

A validation slice (`recsys.training.validation`) picks the epoch count and
the item-item blend; training then continues from the best validated state
on all ratings for a share of the chosen epochs, which costs less than
retraining from scratch and ranked as well on ml-latest-small. The validated
state also calibrates the rankers' chances on those validation users
(`recsys.training.calibrate`), and the final model gets its similar-movie
neighbours and like index (`recsys.ranking`).

Deterministic for a seed when the process runs torch's deterministic
algorithms (`recsys.training.process.configure`, which the commands call):
with two threads some kernels otherwise accumulate in a varying order.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from recsys.data.dataset import Dataset
from recsys.features.space import FeatureSpace, build_feature_space
from recsys.model.artifacts import RankingArtifacts
from recsys.model.blend import join_movies
from recsys.model.config import ModelConfig
from recsys.model.itemitem import fit_factors
from recsys.model.towers import TrainedModel, TwoTower
from recsys.model.user_tower import ITEM_INPUT
from recsys.ranking.colikes import build_likes
from recsys.ranking.facts import catalogue_facts
from recsys.ranking.neighbours import Content, build_neighbours
from recsys.training.calibrate import FALLBACK, fit_calibrations
from recsys.training.config import TrainConfig
from recsys.training.loop import State, restore, run
from recsys.training.validation import (
    Validation,
    build_validation,
    choose_item_blend,
    fallback_choice,
    split_validation,
)


def fit(dataset: Dataset, config: TrainConfig | None = None, progress: bool = True) -> TrainedModel:
    """Train on every rating in `dataset`; raises ValueError for settings it cannot use."""
    cfg = config or TrainConfig()
    cfg.check()
    if len(dataset.ratings) == 0:
        raise ValueError("the dataset has no ratings to train on")
    t0 = time.perf_counter()
    curves: dict[str, list[float]] = {}
    epochs = cfg.loop.epochs
    best: tuple[FeatureSpace, Validation, State] | None = None
    if cfg.loop.val_share > 0:
        fit_ds, held, cold = split_validation(dataset, cfg.loop.val_share, cfg.seed)
        fs_fit = build_feature_space(fit_ds)
        validation = build_validation(fs_fit, held, cold)
        if validation.queries:
            result = run(fs_fit, cfg, epochs, validation, progress)
            curves, epochs = result.curves, result.epochs
            if result.best is not None:
                best = (fs_fit, validation, result.best)
    model_cfg = cfg.model
    item_choice: dict[str, Any] = {}
    calibrations, calibration_record = FALLBACK, {"fitted_on": "fallback"}
    if best is not None:
        fs_fit, validation, state = best
        net = restore(fs_fit, cfg, state)
        factors = None
        if model_cfg.item_rank > 0:
            factors = fit_factors(
                fs_fit, model_cfg.item_rank, cfg.item.movies, cfg.item.lam, cfg.seed
            )
            item_choice = choose_item_blend(net, fs_fit, validation, cfg, factors)
            model_cfg = replace(
                model_cfg, item_tau=item_choice["tau"], item_share=item_choice["share"]
            )
        checked = _assembled(net, fs_fit, factors, dataset.name, model_cfg)
        facts = catalogue_facts(checked.features, *_titles_and_years(dataset))
        calibrations, calibration_record = fit_calibrations(
            checked, facts, build_likes(checked.features), validation
        )
    elif model_cfg.item_rank > 0:
        item_choice = fallback_choice()
        model_cfg = replace(model_cfg, item_tau=item_choice["tau"], item_share=item_choice["share"])
    fs = build_feature_space(dataset)
    if best is not None and fs.occupations == best[0].occupations:
        # Continue from the best validated state on all the data: the held-out
        # (most recent) ratings are learnt in a few epochs instead of a full rerun.
        # Same catalogue, so every movie-indexed parameter lines up.
        tune = max(cfg.loop.eval_every, int(round(epochs * cfg.loop.tune_share)))
        final = run(fs, cfg, tune, None, progress, start=best[2])
        epochs_total = epochs + tune
    else:
        final = run(fs, cfg, epochs, None, progress)
        epochs_total = epochs
    curves = {**curves, "final_train_loss": final.curves["train_loss"]}
    factors = None
    if model_cfg.item_rank > 0:
        factors = fit_factors(fs, model_cfg.item_rank, cfg.item.movies, cfg.item.lam, cfg.seed)
    model = _assembled(final.net, fs, factors, dataset.name, model_cfg)
    facts = catalogue_facts(fs, *_titles_and_years(dataset))
    ranking = RankingArtifacts(
        neighbours=build_neighbours(fs, Content.of(facts, model.tower_directions)),
        likes=build_likes(fs),
        calibrations=calibrations,
    )
    training = {
        "config": asdict(cfg),
        "epochs_run": epochs,
        "epochs_final": epochs_total,
        "item_choice": item_choice,
        "calibration": calibration_record,
        "seconds": time.perf_counter() - t0,
    }
    return replace(model, training=training, curves=curves, ranking=ranking)


def _assembled(
    net: TwoTower,
    fs: FeatureSpace,
    factors: tuple[np.ndarray, np.ndarray] | None,
    dataset_name: str,
    config: ModelConfig,
) -> TrainedModel:
    """A trained network as a model: its movie embeddings, joined with the item-item part's
    factors (P, Q) when given (P goes into the user tower, where it is saved)."""
    net.eval()
    with torch.inference_mode():
        movie_emb = net.movie_embeddings().numpy().astype(np.float32)
    if factors is not None:
        p, q = factors
        movie_emb = join_movies(movie_emb, q)
        getattr(net.user_tower, ITEM_INPUT).copy_(torch.from_numpy(p))
    return TrainedModel(
        features=fs,
        network=net,
        movie_embeddings=movie_emb,
        dataset_name=dataset_name,
        config=config,
    )


def _titles_and_years(dataset: Dataset) -> tuple[list[str], np.ndarray]:
    """The catalogue's titles and years in dense order (the feature space keeps the
    dataset's movie order)."""
    movies = dataset.movies
    return [str(t) for t in movies["title"]], movies["year"].to_numpy(dtype=object)
