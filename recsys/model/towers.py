"""The two towers in torch, and a trained model ready to answer queries.

Movie tower: genres, year bucket, popularity bucket and a learned id
embedding -> Vm. User tower: demographics, stated genres, genre taste, the
pooled history (through movie-side embeddings) and its last few movies
pooled apart -> Vu. Both are unit vectors whose last coordinate carries the
movie's length (`recsys.model.vectors.with_norm_coordinate`), so the score
cos(Vu, Vm) / temperature ranks movies like the raw dot product and Annoy's
`angular` metric serves it.

With `item_rank` > 0 both vectors also carry an item-item part fitted in
closed form after training (`recsys.model.itemitem`); `recsys.model.blend`
joins the parts, so the towers here compute the trained part only.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recsys.features.encoding import QueryBatch
from recsys.features.space import AGE_CODES, GENDERS, POP_BUCKETS, YEAR_BUCKETS, FeatureSpace
from recsys.model.config import ModelConfig
from recsys.model.files import (
    WEIGHTS_FILE,
    model_error,
    read_saved,
    read_user_tower,
    save_user_tower,
    write_config,
)
from recsys.model.query_model import QueryModel
from recsys.model.user_tower import ITEM_INPUT, USER_TOWER_PREFIX, recent_segments
from recsys.model.vectors import with_norm_coordinate


def _mlp(n_in: int, hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_out)
    )


class MovieTower(nn.Module):
    """Movie features -> embedding. The id part is additive and can be switched off per movie."""

    def __init__(self, n_movies: int, n_genres: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.genre = nn.Linear(n_genres, 32, bias=False)
        self.year = nn.Embedding(YEAR_BUCKETS, 16)
        self.pop = nn.Embedding(POP_BUCKETS, 16)
        # No dropout here: the tower runs over the whole catalogue every step, and
        # id-embedding dropout already regularises it.
        self.features = _mlp(32 + 16 + 16, cfg.hidden, cfg.raw_dim, 0.0)
        self.ids = nn.Embedding(n_movies, cfg.raw_dim)
        nn.init.normal_(self.ids.weight, std=cfg.id_init_std)

    def forward(
        self,
        genres: torch.Tensor,
        year: torch.Tensor,
        pop: torch.Tensor,
        id_keep: torch.Tensor,
        rows: torch.Tensor,
    ) -> torch.Tensor:
        """`rows` maps each movie to its row of the (deduplicated) features."""
        x = torch.cat([self.genre(genres), self.year(year), self.pop(pop)], dim=1)
        out: torch.Tensor = self.features(x)[rows] + self.ids.weight * id_keep[:, None]
        return with_norm_coordinate(out, torch)


class UserTower(nn.Module):
    """User data and history -> embedding, from any subset of its inputs."""

    def __init__(self, n_movies: int, n_genres: int, n_occ: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.gender = nn.Embedding(len(GENDERS) + 1, 8)
        self.age = nn.Embedding(len(AGE_CODES) + 1, 8)
        self.occupation = nn.Embedding(n_occ + 1, 16)
        self.stated = nn.Linear(n_genres, 32, bias=False)
        self.taste = nn.Linear(n_genres, 32, bias=False)
        # History is pooled twice: through an input-side movie table (asymmetric,
        # like item-item models) and through the movie tower's own embeddings.
        self.history = nn.EmbeddingBag(n_movies, cfg.hidden, mode="sum")
        nn.init.normal_(self.history.weight, std=0.02)
        n_in = 8 + 8 + 16 + 32 + 32 + cfg.dim + 1
        self.dense = nn.Linear(n_in, cfg.hidden)
        self.out = nn.Sequential(
            nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.raw_dim)
        )
        if cfg.item_rank > 0:
            # The item-item part's input factors: fitted in closed form after
            # training (recsys.model.itemitem), kept here so they are saved with the tower.
            self.register_buffer(ITEM_INPUT, torch.zeros(n_movies, cfg.item_rank))
        self.recent = cfg.recent
        self.recent_mix = None
        if cfg.recent > 0:
            # Starts at zero: training begins from the tower without the recent part.
            self.recent_mix = nn.Linear(cfg.hidden, cfg.hidden, bias=False)
            nn.init.zeros_(self.recent_mix.weight)

    def forward(self, q: dict[str, torch.Tensor], movie_emb: torch.Tensor) -> torch.Tensor:
        items, offsets, weights = q["hist_items"], q["hist_offsets"], q["hist_weights"]
        counts = torch.diff(offsets, append=torch.tensor([items.shape[0]]))
        norm = counts.clamp(min=1).float().sqrt()[:, None]
        pooled_in = self.history(items, offsets, per_sample_weights=weights) / norm
        pooled_mv = (
            F.embedding_bag(items, movie_emb, offsets, mode="sum", per_sample_weights=weights)
            / counts.clamp(min=1).float()[:, None]
        )
        has_hist = (counts > 0).float()[:, None]
        x = torch.cat(
            [
                self.gender(q["gender"]),
                self.age(q["age"]),
                self.occupation(q["occupation"]),
                self.stated(q["stated"]),
                self.taste(q["taste"]),
                pooled_mv,
                has_hist,
            ],
            dim=1,
        )
        h = self.dense(x) + pooled_in
        if self.recent_mix is not None:
            keep, r_counts, r_offsets = map(
                torch.from_numpy, recent_segments(offsets.numpy(), items.shape[0], self.recent)
            )
            pooled_recent = (
                self.history(items[keep], r_offsets, per_sample_weights=weights[keep])
                / r_counts.clamp(min=1).float().sqrt()[:, None]
            )
            h = h + self.recent_mix(pooled_recent)
        out = F.pad(self.out(h), (0, 1))
        return F.normalize(out, dim=1)


class TwoTower(nn.Module):
    # Buffers registered in __init__, declared for the type checker (nn.Module's
    # attribute lookup says only "a tensor or a module").
    m_genres: torch.Tensor
    m_year: torch.Tensor
    m_pop: torch.Tensor
    u_first: torch.Tensor
    u_rows: torch.Tensor
    m_rated: torch.Tensor

    def __init__(self, fs: FeatureSpace, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_g = len(fs.genres)
        self.movie_tower = MovieTower(fs.n_movies, n_g, cfg)
        self.user_tower = UserTower(fs.n_movies, n_g, len(fs.occupations), cfg)
        # The movie features come from the FeatureSpace (features.npz): not
        # saved again with the weights (half a megabyte on ml-latest-small).
        self.register_buffer("m_genres", torch.from_numpy(fs.movie_genres), persistent=False)
        self.register_buffer("m_year", torch.from_numpy(fs.movie_year_bucket), persistent=False)
        self.register_buffer("m_pop", torch.from_numpy(fs.movie_pop_bucket), persistent=False)
        # About half the movies share their (genres, year, popularity) with
        # another; the feature MLP runs once per distinct row (training speed).
        feats = np.column_stack([fs.movie_genres, fs.movie_year_bucket, fs.movie_pop_bucket])
        _, first, inverse = np.unique(feats, axis=0, return_index=True, return_inverse=True)
        self.register_buffer("u_first", torch.from_numpy(first.astype(np.int64)), persistent=False)
        self.register_buffer(
            "u_rows", torch.from_numpy(inverse.reshape(-1).astype(np.int64)), persistent=False
        )
        # Movies never rated in training have untrained ids: they use features alone.
        rated = torch.from_numpy((fs.movie_counts > 0).astype(np.float32))
        self.register_buffer("m_rated", rated, persistent=False)

    def movie_embeddings(self, id_keep: torch.Tensor | None = None) -> torch.Tensor:
        """All movies' embeddings; `id_keep` (0/1 per movie) drops id embeddings."""
        keep = self.m_rated if id_keep is None else self.m_rated * id_keep
        f = self.u_first
        emb: torch.Tensor = self.movie_tower(
            self.m_genres[f], self.m_year[f], self.m_pop[f], keep, rows=self.u_rows
        )
        return emb

    def user_embeddings(self, q: dict[str, torch.Tensor], movie_emb: torch.Tensor) -> torch.Tensor:
        emb: torch.Tensor = self.user_tower(q, movie_emb)
        return emb


def batch_tensors(batch: QueryBatch) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in asdict(batch).items()}


@dataclass(frozen=True, kw_only=True)
class TrainedModel(QueryModel):
    """A fitted two-tower model with its precomputed, normalised movie embeddings."""

    network: TwoTower
    # One torch call at a time: the network is shared by every caller of this model.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _embed(self, batch: QueryBatch) -> np.ndarray:
        tensors = batch_tensors(batch)
        movie_emb = torch.from_numpy(self.tower_movie_embeddings)
        with self._lock, torch.inference_mode():
            out = self.network.user_embeddings(tensors, movie_emb)
        emb: np.ndarray = out.numpy().astype(np.float32)
        return emb

    def _item_input(self) -> np.ndarray:
        factors: np.ndarray = getattr(self.network.user_tower, ITEM_INPUT).numpy()
        return factors


def save_model(model: TrainedModel, directory: Path) -> list[str]:
    """Write the weights (a plain state dict), config and feature arrays into `directory`;
    the movie embeddings are the caller's to keep (a bundle's Annoy index)."""
    directory = Path(directory)
    # Half precision halves the files; inference casts back to float32, and the
    # served movie embeddings are kept in full precision by the index.
    state = {
        k: v.half() if v.is_floating_point() else v for k, v in model.network.state_dict().items()
    }
    # The user tower is stored once, as plain arrays that serve without torch;
    # the torch file holds the rest (the movie tower), and loading joins them.
    tower_file = save_user_tower({k: v.numpy() for k, v in state.items()}, directory)
    movie_side = {k: v for k, v in state.items() if not k.startswith(USER_TOWER_PREFIX)}
    torch.save(movie_side, directory / WEIGHTS_FILE)
    config_files = write_config(model, directory)
    return [WEIGHTS_FILE, tower_file, *config_files, *model.features.save(directory)]


def load_model(directory: Path, movie_embeddings: np.ndarray) -> TrainedModel:
    """Load a saved model with torch (training, evaluation and the parity test)."""
    directory = Path(directory)
    saved = read_saved(directory, movie_embeddings)
    tower = read_user_tower(directory, saved)
    try:
        network = TwoTower(saved.features, saved.config)
        state = torch.load(directory / WEIGHTS_FILE, weights_only=True, map_location="cpu")
        state.update({USER_TOWER_PREFIX + k: torch.from_numpy(v) for k, v in tower.items()})
        network.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        )
    except Exception as exc:  # noqa: BLE001 - any failure here means "this is not our model"
        raise model_error(directory, exc) from exc
    network.eval()
    return TrainedModel(**vars(saved), network=network)
