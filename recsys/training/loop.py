"""The optimisation loop: a full softmax over the catalogue, a moving average of the weights,
and early stopping on a validation score.

The objective is a retrieval loss: every other movie is a negative, so no
sampling bias needs correcting. Liked targets weigh 1, others less
(`ExampleConfig.disliked_target_weight`); every target counts alike in the
loss, so people with many likes weigh more, as they do in co-occurrence
counts (ML-100K C rose from 0.426 to 0.479 with this alone).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from recsys.features.encoding import encode_queries
from recsys.features.space import FeatureSpace
from recsys.model.towers import TwoTower, batch_tensors
from recsys.training.config import TrainConfig
from recsys.training.examples import Example, make_example

# Scores a network on held-out users (higher is better); see recsys.training.validation.
Scorer = Callable[[TwoTower, FeatureSpace], float]


@dataclass(frozen=True)
class State:
    """A point to continue training from: weights, optimiser and moving average."""

    network: dict[str, Any]
    optimizer: dict[str, Any]
    ema: list[torch.Tensor] | None = None


@dataclass(frozen=True)
class RunResult:
    net: TwoTower
    curves: dict[str, list[float]]
    epochs: int  # the chosen epoch count (with validation), else the epochs run
    best: State | None  # the best validated state, when validated


def _softmax_loss(
    net: TwoTower, fs: FeatureSpace, batch: list[Example], cfg: TrainConfig, gen: torch.Generator
) -> torch.Tensor:
    # Some movies are seen as new ones are, through their features alone (no id).
    id_keep = (torch.rand(fs.n_movies, generator=gen) >= cfg.examples.movie_id_drop).float()
    movie_emb = net.movie_embeddings(id_keep)
    queries = batch_tensors(encode_queries(fs, [e.query for e in batch]))
    user_emb = net.user_embeddings(queries, movie_emb)
    logits = user_emb @ movie_emb.T / cfg.model.temperature
    b = len(batch)
    target = torch.zeros(b, fs.n_movies)
    t_rows = np.repeat(np.arange(b), [len(e.targets) for e in batch])
    t_cols = np.concatenate([e.targets for e in batch])
    target[torch.from_numpy(t_rows), torch.from_numpy(t_cols)] = torch.from_numpy(
        np.concatenate([e.target_w for e in batch])
    )
    m_rows = np.repeat(np.arange(b), [len(e.masked) for e in batch])
    m_cols = np.concatenate([e.masked for e in batch]).astype(np.int64)
    mask = torch.zeros(b, fs.n_movies, dtype=torch.bool)
    mask[torch.from_numpy(m_rows), torch.from_numpy(m_cols)] = True
    logp = F.log_softmax(logits.masked_fill(mask, -1e9), dim=1)
    return -(target * logp).sum(1).sum() / target.sum(1).clamp(min=1e-6).sum()


def run(
    fs: FeatureSpace,
    cfg: TrainConfig,
    epochs: int,
    validation: Scorer | None,
    progress: bool,
    start: State | None = None,
) -> RunResult:
    """Train for up to `epochs`; with a validation scorer, keep the best state (by smoothed
    score) and stop when it no longer improves."""
    loop = cfg.loop
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = TwoTower(fs, cfg.model)
    net.train()
    opt = _optimizer(net, cfg)
    if start is not None:
        # Parameters only: the buffers describe this run's data (popularity, rated movies).
        params = dict(net.named_parameters())
        net.load_state_dict({k: v for k, v in start.network.items() if k in params}, strict=False)
        opt.load_state_dict(start.optimizer)
    ema = Ema(net, loop.ema_decay, start.ema if start is not None else None)
    best_state: State | None = None
    users = np.flatnonzero(np.diff(fs.user_indptr) > 0)
    curves: dict[str, list[float]] = {"train_loss": [], "val_ndcg": [], "val_epoch": []}
    best_score, best_epoch, stale = -1.0, 0, 0
    bar = tqdm(range(1, epochs + 1), desc="training", unit="epoch", disable=not progress)
    for epoch in bar:
        order = rng.permutation(users)
        losses = []
        for first in range(0, len(order), loop.batch_size):
            chunk = order[first : first + loop.batch_size]
            batch = [make_example(fs, int(u), rng, cfg.examples) for u in chunk]
            if cfg.examples.cold_extra > 0:
                extra = chunk[rng.random(len(chunk)) < cfg.examples.cold_extra]
                batch += [make_example(fs, int(u), rng, cfg.examples, cold=True) for u in extra]
            kept = [e for e in batch if e is not None and len(e.targets)]
            if not kept:
                continue
            loss = _softmax_loss(net, fs, kept, cfg, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            ema.update(net)
            losses.append(float(loss.detach()))
        curves["train_loss"].append(float(np.mean(losses)) if losses else math.nan)
        postfix = {"loss": f"{curves['train_loss'][-1]:.3f}"}
        if validation is not None and (epoch % loop.eval_every == 0 or epoch == epochs):
            with ema.applied(net):
                score = validation(net, fs)
            curves["val_ndcg"].append(score)
            curves["val_epoch"].append(epoch)
            postfix["val_ndcg@10"] = f"{score:.4f}"
            smooth = _smoothed(curves["val_ndcg"])
            if smooth > best_score:
                best_score, best_epoch, stale = smooth, epoch, 0
                best_state = State(
                    copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict()), ema.copy()
                )
            else:
                stale += 1
                if stale >= loop.patience:
                    bar.set_postfix(postfix)
                    break
        bar.set_postfix(postfix)
    bar.close()
    if validation is not None:
        return RunResult(net, curves, max(best_epoch, loop.eval_every), best_state)
    ema.apply_for_good(net)
    return RunResult(net, curves, epochs, None)


def restore(fs: FeatureSpace, cfg: TrainConfig, state: State) -> TwoTower:
    """The network of a saved state, with its averaged weights, ready for inference."""
    net = TwoTower(fs, cfg.model)
    params = dict(net.named_parameters())
    net.load_state_dict({k: v for k, v in state.network.items() if k in params}, strict=False)
    if state.ema is not None:
        Ema.load(net, state.ema)
    net.eval()
    return net


class Ema:
    """An exponential moving average of the parameters, updated after every step.

    The decay ramps up over the first steps ((1 + t) / (10 + t)), so the early,
    random weights are soon forgotten.
    """

    def __init__(self, net: TwoTower, decay: float, start: list[torch.Tensor] | None) -> None:
        self.decay = decay
        self.steps = 0
        self.shadow: list[torch.Tensor] | None = None
        if decay > 0:
            src = start if start is not None else [p.detach() for p in net.parameters()]
            self.shadow = [t.clone() for t in src]
            # Continuing from a saved average: it is already past the ramp.
            self.steps = 0 if start is None else 10**6

    @torch.no_grad()
    def update(self, net: TwoTower) -> None:
        if self.shadow is None:
            return
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for s, p in zip(self.shadow, net.parameters(), strict=True):
            s.lerp_(p.detach(), 1.0 - d)

    def copy(self) -> list[torch.Tensor] | None:
        return None if self.shadow is None else [t.clone() for t in self.shadow]

    @contextlib.contextmanager
    def applied(self, net: TwoTower) -> Iterator[None]:
        """The averaged weights in `net` for the duration (a validation pass)."""
        if self.shadow is None:
            yield
            return
        raw = [p.detach().clone() for p in net.parameters()]
        self.load(net, self.shadow)
        try:
            yield
        finally:
            self.load(net, raw)

    def apply_for_good(self, net: TwoTower) -> None:
        if self.shadow is not None:
            self.load(net, self.shadow)

    @staticmethod
    @torch.no_grad()
    def load(net: TwoTower, values: list[torch.Tensor]) -> None:
        for p, v in zip(net.parameters(), values, strict=True):
            p.copy_(v)


def _optimizer(net: TwoTower, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, fused where this torch build supports it on CPU (a quarter of each step
    went to the per-tensor update loop)."""
    lr, decay = cfg.loop.lr, cfg.loop.weight_decay
    try:
        return torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=decay)


def _smoothed(values: list[float]) -> float:
    """Mean of the last three validation scores.

    One evaluation on a small validation slice is noisy; picking the epoch count
    from single peaks stopped some runs far too early (seen on ML-100K: 15 epochs
    chosen where 45 was better). The continuation then trains for the chosen count.
    """
    return float(np.mean(values[-3:]))
