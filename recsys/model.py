"""The two towers, and a trained model ready to answer queries.

Movie tower: genres, year bucket, popularity bucket and an optional learned id
embedding -> Vm. User tower: demographics, stated genres, genre taste, the
pooled history (through movie-side embeddings), its last few movies pooled
apart, and an optional user id embedding -> Vu. Both are L2-normalised, so
score = cos(Vu, Vm) / temperature and Annoy's `angular` metric ranks exactly
like the score.

With `norm_coordinate` (the default for new models) the towers' raw vectors
u and x are one shorter than Vu and Vm: Vm = [x, sqrt(M^2 - |x|^2)] / M and
Vu = [u, 0] / |u|, so the cosine ranks movies by the raw dot product u.x. A
movie's length then carries how broadly it is liked, which plain cosine
throws away (on ML-100K, a rank-128 EASE loses 0.02 NDCG@10 when its movie
vectors are normalised).

With `item_rank` > 0 both vectors also carry an item-item part fitted in
closed form after training (`recsys.itemitem`); `recsys.tower` joins the
parts, so the towers here compute the trained part only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recsys.features import (
    AGE_CODES,
    GENDERS,
    POP_BUCKETS,
    YEAR_BUCKETS,
    FeatureSpace,
    QueryBatch,
    UserQuery,
)
from recsys.tower import (
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    ITEM_INPUT,
    USER_TOWER_PREFIX,
    ModelError,
    QueryModel,
    check_embedding_shape,
    model_error,
    movie_directions,
    read_user_tower,
    recent_segments,
    save_user_tower,
    saved_fields,
)

__all__ = ["ModelError", "TrainedModel", "TwoTower", "load_model", "movie_directions", "save_model"]

WEIGHTS_FILE = "weights.pt"
FEATURE_BUFFERS = frozenset({"m_genres", "m_year", "m_pop", "m_rated"})


@dataclass(frozen=True)
class ModelConfig:
    dim: int = 64
    hidden: int = 256
    id_embeddings: bool = True  # learned movie-id embedding (the tower also works without it)
    user_id_embedding: bool = False
    temperature: float = 0.07
    dropout: float = 0.1
    id_init_std: float = 0.05
    # Reserve the last coordinate for the movie's norm, so a movie tower's
    # vector length (how strongly a movie is recommended overall) survives L2
    # normalisation: the dot-product ranking then equals the cosine ranking.
    norm_coordinate: bool = False
    # The last `recent` movies of a history (oldest first, as histories are kept)
    # are pooled once more through the same input table and a map of their own,
    # so what a person watched lately can weigh differently. 0: off, as in
    # models saved before this field existed.
    recent: int = 0
    # The item-item part (recsys.itemitem): its rank (0: none, as in models
    # saved before these fields existed), the recency of likes in a user's part
    # and the trained part's weight against it, both chosen on validation.
    item_rank: int = 0
    item_tau: float = 0.0
    item_floor: float = 0.5
    item_share: float = 1.0

    @property
    def raw_dim(self) -> int:
        return self.dim - 1 if self.norm_coordinate else self.dim


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
        self.ids = nn.Embedding(n_movies, cfg.raw_dim) if cfg.id_embeddings else None
        self.norm_coordinate = cfg.norm_coordinate
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=cfg.id_init_std)

    def forward(
        self,
        genres: torch.Tensor,
        year: torch.Tensor,
        pop: torch.Tensor,
        id_keep: torch.Tensor,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`rows`, when given, maps each movie to its row of the (deduplicated) features."""
        x = torch.cat([self.genre(genres), self.year(year), self.pop(pop)], dim=1)
        out = self.features(x)
        if rows is not None:
            out = out[rows]
        if self.ids is not None:
            out = out + self.ids.weight * id_keep[:, None]
        if self.norm_coordinate:
            return with_norm_coordinate(out)
        return F.normalize(out, dim=1)


def with_norm_coordinate(x: torch.Tensor) -> torch.Tensor:
    """Unit vectors [x, sqrt(M^2 - |x|^2)] / M with M a little above the largest |x|.

    For a user vector [u, 0], cos = u.x / (|u| M): within one catalogue the
    cosine ranks movies exactly as the unnormalised dot product does, so Annoy's
    angular metric still serves it. The 5% margin keeps the square root's
    gradient finite for the longest vector.
    """
    sq = (x * x).sum(dim=1)
    m2 = sq.max().detach() * 1.1025 + 1e-12
    last = torch.sqrt((m2 - sq).clamp(min=1e-12))
    return torch.cat([x, last[:, None]], dim=1) / torch.sqrt(m2)


class UserTower(nn.Module):
    """User data and history -> embedding, from any subset of its inputs."""

    def __init__(self, n_movies: int, n_genres: int, n_users: int, n_occ: int, cfg: ModelConfig):
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
        self.user_ids = nn.Embedding(n_users, cfg.raw_dim) if cfg.user_id_embedding else None
        self.norm_coordinate = cfg.norm_coordinate
        n_in = 8 + 8 + 16 + 32 + 32 + cfg.dim + 1
        self.dense = nn.Linear(n_in, cfg.hidden)
        self.out = nn.Sequential(
            nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.raw_dim)
        )
        if cfg.item_rank > 0:
            # The item-item part's input factors: fitted in closed form after
            # training (recsys.itemitem), kept here so they are saved with the tower.
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
        out = self.out(h)
        if self.user_ids is not None:
            idx = q["user_index"]
            known = (idx >= 0).float()[:, None]
            out = out + self.user_ids(idx.clamp(min=0)) * known
        if self.norm_coordinate:
            out = F.pad(out, (0, 1))
        return F.normalize(out, dim=1)


class TwoTower(nn.Module):
    def __init__(self, fs: FeatureSpace, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_g = len(fs.genres)
        self.movie_tower = MovieTower(fs.n_movies, n_g, cfg)
        self.user_tower = UserTower(fs.n_movies, n_g, fs.n_users, len(fs.occupations), cfg)
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
        # Only the MSE objective uses these: predicted rating = scale * cos + bias.
        self.rating_scale = nn.Parameter(torch.tensor(2.0))
        self.rating_bias = nn.Parameter(torch.tensor(float(np.mean(fs.rating_scale)) + 0.5))

    def movie_embeddings(self, id_keep: torch.Tensor | None = None) -> torch.Tensor:
        """All movies' embeddings; `id_keep` (0/1 per movie) drops id embeddings."""
        keep = self.m_rated if id_keep is None else self.m_rated * id_keep
        f = self.u_first
        return self.movie_tower(
            self.m_genres[f], self.m_year[f], self.m_pop[f], keep, rows=self.u_rows
        )

    def user_embeddings(self, q: dict[str, torch.Tensor], movie_emb: torch.Tensor) -> torch.Tensor:
        return self.user_tower(q, movie_emb)


def batch_tensors(batch: QueryBatch) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in asdict(batch).items()}


@dataclass(kw_only=True)
class TrainedModel(QueryModel):
    """A fitted two-tower model with its precomputed, normalised movie embeddings."""

    network: TwoTower
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _embed(self, batch: QueryBatch) -> np.ndarray:
        tensors = batch_tensors(batch)
        movie_emb = torch.from_numpy(self.tower_movie_embeddings)
        with self._lock, torch.inference_mode():
            out = self.network.user_embeddings(tensors, movie_emb)
        return out.numpy().astype(np.float32)

    def _item_input(self) -> np.ndarray:
        return getattr(self.network.user_tower, ITEM_INPUT).numpy()

    def predict_ratings(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(n, n_movies) predicted ratings; meaningful only for the "mse" objective."""
        cos = self.embed_queries(queries) @ self.movie_embeddings.T
        scale = float(self.network.rating_scale.detach())
        bias = float(self.network.rating_bias.detach())
        return scale * cos + bias


def save_model(model: TrainedModel, directory: Path, embeddings: bool = True) -> list[str]:
    """Write the weights (a plain state dict), config and feature arrays into `directory`.

    `embeddings=False` leaves out `movie_embeddings.npy`, for a caller that stores
    the vectors elsewhere (a bundle's Annoy index) and passes them back to loading.
    """
    directory = Path(directory)
    # Half precision halves the bundle; inference casts back to float32, and the
    # served movie embeddings are saved separately in full precision.
    state = {
        k: v.half() if v.is_floating_point() else v for k, v in model.network.state_dict().items()
    }
    # The user tower is stored once, as plain arrays that serve without torch;
    # the torch file holds the rest (the movie tower), and loading joins them.
    tower_file = save_user_tower({k: v.numpy() for k, v in state.items()}, directory)
    movie_side = {k: v for k, v in state.items() if not k.startswith(USER_TOWER_PREFIX)}
    torch.save(movie_side, directory / WEIGHTS_FILE)
    meta = {
        "dataset_name": model.dataset_name,
        "temperature": model.temperature,
        "model_config": model.model_config,
        "train_config": model.train_config,
        "curves": model.curves,
    }
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    files = [WEIGHTS_FILE, tower_file, CONFIG_FILE, *model.features.save(directory)]
    if embeddings:
        np.save(directory / EMBEDDINGS_FILE, model.movie_embeddings, allow_pickle=False)
        files.append(EMBEDDINGS_FILE)
    return files


def load_model(directory: Path, movie_embeddings: np.ndarray | None = None) -> TrainedModel:
    """Load a saved model with torch (see `saved_fields` for `movie_embeddings`)."""
    directory = Path(directory)
    try:
        fields = saved_fields(directory, movie_embeddings)
        network = TwoTower(fields["features"], ModelConfig(**fields["model_config"]))
        state = torch.load(directory / WEIGHTS_FILE, weights_only=True, map_location="cpu")
        # Older files also hold the movie feature buffers, rebuilt from features.npz here.
        state = {k: v for k, v in state.items() if k not in FEATURE_BUFFERS}
        if not any(k.startswith(USER_TOWER_PREFIX) for k in state):
            # The user tower is in user_tower.npz (older bundles also kept it here).
            tower = read_user_tower(directory)
            state.update({USER_TOWER_PREFIX + k: torch.from_numpy(v) for k, v in tower.items()})
        network.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        )
    except Exception as exc:  # noqa: BLE001 - any failure here means "this is not our model"
        raise model_error(directory, exc) from exc
    check_embedding_shape(fields, directory)
    network.eval()
    return TrainedModel(**fields, network=network)
