"""The user tower for serving, in numpy: answering queries does not need torch.

`recsys.model` trains the towers with torch. A bundle also carries the user
tower's weights as plain arrays (`user_tower.npz`), and `ServingModel` runs the
same forward pass with numpy, so the MCP server starts without importing torch
(about 1.5 s of its start-up on our machines) and uses less memory. A test
checks that both passes give the same vectors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from recsys.features import FeatureSpace, QueryBatch, UserQuery, encode_queries
from recsys.itemitem import recency_weights
from recsys.vocab import canonical_genre

USER_TOWER_FILE = "user_tower.npz"
CONFIG_FILE = "model.json"
EMBEDDINGS_FILE = "movie_embeddings.npy"
USER_TOWER_PREFIX = "user_tower."
# The user tower's copy of the item-item input factors P (see recsys.itemitem).
ITEM_INPUT = "item_input"

# The state-dict entries the forward pass reads (user_ids.weight is optional).
REQUIRED = (
    "gender.weight",
    "age.weight",
    "occupation.weight",
    "stated.weight",
    "taste.weight",
    "history.weight",
    "dense.weight",
    "dense.bias",
    "out.2.weight",
    "out.2.bias",
)


class ModelError(ValueError):
    """A saved model could not be loaded; the message says what to run."""


def movie_directions(embeddings: np.ndarray, norm_coordinate: bool) -> np.ndarray:
    """Unit directions of movie embeddings, leaving out the norm coordinate if present."""
    x = embeddings[:, :-1] if norm_coordinate else embeddings
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


A5 = 1.061405429


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz & Stegun 7.1.26), below float32 rounding of GELU."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def user_tower_arrays(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The user tower's entries of a (numpy) state dict, keys without the prefix."""
    return {
        k[len(USER_TOWER_PREFIX) :]: v for k, v in state.items() if k.startswith(USER_TOWER_PREFIX)
    }


def _bag_sum(
    table: np.ndarray,
    items: np.ndarray,
    weights: np.ndarray,
    offsets: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """Per query, the weighted sum of its items' rows (torch's EmbeddingBag, mode="sum")."""
    n_rows = table.shape[0]
    if len(items) > n_rows:
        # Big batches (all known users at load): one (queries x movies) weight
        # matrix and a BLAS product beat gathering a row per history entry.
        rows = np.repeat(np.arange(len(offsets)), counts.astype(np.int64))
        dense = np.bincount(rows * n_rows + items, weights, minlength=len(offsets) * n_rows)
        return dense.reshape(len(offsets), n_rows).astype(np.float32) @ table
    out = np.zeros((len(offsets), table.shape[1]), dtype=np.float32)
    full = counts > 0
    if full.any():
        # Segments of the non-empty queries are contiguous in `items`, in order.
        out[full] = np.add.reduceat(table[items] * weights[:, None], offsets[full], axis=0)
    return out


def last_entries(offsets: np.ndarray, n_items: int, r: int) -> np.ndarray:
    """Boolean mask over a flat batch of histories: the last `r` entries of each."""
    return recent_segments(offsets, n_items, r)[0]


def recent_segments(
    offsets: np.ndarray, n_items: int, r: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask of the last `r` entries, their counts, their offsets) of a flat history batch:
    the recent part as a batch of its own, for torch and numpy alike."""
    counts = np.diff(np.append(offsets, n_items))
    ends = np.repeat(offsets + counts, counts)
    keep = np.arange(n_items) >= ends - r
    kept = np.minimum(counts, r)
    return keep, kept, (np.cumsum(kept) - kept).astype(np.int64)


def embed_users(
    w: dict[str, np.ndarray],
    norm_coordinate: bool,
    q: QueryBatch,
    movie_emb: np.ndarray,
    recent: int = 0,
) -> np.ndarray:
    """`model.UserTower.forward` in numpy (inference: dropout is off)."""
    items, offsets, weights = q.hist_items, q.hist_offsets, q.hist_weights
    counts = np.diff(np.append(offsets, len(items))).astype(np.float32)
    pooled_in = _bag_sum(w["history.weight"], items, weights, offsets, counts)
    pooled_in /= np.sqrt(np.maximum(counts, 1.0))[:, None]
    pooled_mv = _bag_sum(movie_emb, items, weights, offsets, counts)
    pooled_mv /= np.maximum(counts, 1.0)[:, None]
    x = np.concatenate(
        [
            w["gender.weight"][q.gender],
            w["age.weight"][q.age],
            w["occupation.weight"][q.occupation],
            q.stated @ w["stated.weight"].T,
            q.taste @ w["taste.weight"].T,
            pooled_mv,
            (counts > 0).astype(np.float32)[:, None],
        ],
        axis=1,
    )
    h = x @ w["dense.weight"].T + w["dense.bias"] + pooled_in
    if recent > 0:
        keep, r_counts, r_offsets = recent_segments(offsets, len(items), recent)
        pooled_recent = _bag_sum(
            w["history.weight"], items[keep], weights[keep], r_offsets, r_counts
        )
        pooled_recent /= np.sqrt(np.maximum(r_counts, 1.0)).astype(np.float32)[:, None]
        h = h + pooled_recent @ w["recent_mix.weight"].T
    out = _gelu(h) @ w["out.2.weight"].T + w["out.2.bias"]
    if "user_ids.weight" in w:
        known = (q.user_index >= 0).astype(np.float32)[:, None]
        out = out + w["user_ids.weight"][np.maximum(q.user_index, 0)] * known
    if norm_coordinate:
        out = np.pad(out, ((0, 0), (0, 1)))
    return _normalize(out).astype(np.float32)


# --------------------------------------------------------------------------- item-item part


@dataclass(frozen=True)
class ItemBlend:
    """How a model's trained part and its item-item part (`recsys.itemitem`) join.

    Vm = [trained part, item-item part, norm coordinate], unit length. A user's
    vector weighs each part by `share` and 1 - share after dividing it by the
    spread of its scores over the catalogue, so the score ranks movies like
    share * z(trained score) + (1 - share) * z(item-item score): the two parts'
    scores are standardised per user, whatever their scales.
    """

    tower_dim: int  # length of the trained part, without the norm coordinate
    rank: int
    tau: float  # recency of likes, see recsys.itemitem.recency_weights
    floor: float
    share: float  # weight of the trained part, in (0, 1]

    @classmethod
    def of(cls, model_config: dict) -> ItemBlend | None:
        rank = int(model_config.get("item_rank", 0))
        if rank <= 0:
            return None
        return cls(
            tower_dim=int(model_config["dim"]) - 1,
            rank=rank,
            tau=float(model_config["item_tau"]),
            floor=float(model_config["item_floor"]),
            share=float(model_config["item_share"]),
        )


def with_norm_coordinate(x: np.ndarray) -> np.ndarray:
    """numpy's `model.with_norm_coordinate`: [x, sqrt(M^2 - |x|^2)] / M, M = 1.05 max |x|."""
    x = np.asarray(x, dtype=np.float32)
    sq = (x * x).sum(axis=1)
    m2 = np.float32(sq.max() * 1.1025 + 1e-12)
    last = np.sqrt(np.maximum(m2 - sq, 1e-12))
    return (np.concatenate([x, last[:, None]], axis=1) / np.sqrt(m2)).astype(np.float32)


def join_movies(tower_movies: np.ndarray, item_output: np.ndarray) -> np.ndarray:
    """Vm with both parts: the trained tower's (unit, norm coordinate last) and Q's rows.

    Q is scaled so that its mean row length over the movies it covers matches
    the trained part's. A user's vector undoes any scale of either part, but
    Annoy's trees split where the vectors spread: with the item-item part at a
    quarter of the length, the served top 6 of a user of the shipped model
    (user 414, k = 6, where Annoy answers) held only 3 of the exact top 6, so
    both parts get equal room.
    """
    x = tower_movies[:, :-1]
    covered = np.abs(item_output).sum(axis=1) > 0
    q = np.asarray(item_output, dtype=np.float32)
    if covered.any():
        q_len = float(np.linalg.norm(q[covered], axis=1).mean())
        q = q * (float(np.linalg.norm(x, axis=1).mean()) / max(q_len, 1e-12))
    return with_norm_coordinate(np.concatenate([x, q], axis=1))


# How much the item-item part counts in similar-movie searches, as a length
# relative to the trained part's. At 1 (the index's own balance) same-era hits
# crowded in (Toy Story: Eraser, Broken Arrow, Down Periscope; The Godfather:
# Stigmata); at 0.25 the lists keep the trained space's sense and gain what
# co-liking adds (Toy Story: Toy Story 2, The Mask, Babe, A Bug's Life; The
# Godfather: Part II, Cuckoo's Nest, Goodfellas), judged by reading the lists.
SIMILARITY_ITEM_WEIGHT = 0.25


def similarity_directions(movie_embeddings: np.ndarray, blend: ItemBlend) -> np.ndarray:
    """Unit vectors for movie-to-movie similarity: [x, w q] without the norm coordinate."""
    d, r = blend.tower_dim, blend.rank
    x = movie_embeddings[:, :d]
    q = movie_embeddings[:, d : d + r] * np.float32(SIMILARITY_ITEM_WEIGHT)
    return _normalize(np.concatenate([x, q], axis=1)).astype(np.float32)


def tower_part(movie_embeddings: np.ndarray, blend: ItemBlend | None) -> np.ndarray:
    """The trained tower's own Vm (what its history pooling reads) from the joined Vm."""
    if blend is None:
        return movie_embeddings
    return with_norm_coordinate(movie_embeddings[:, : blend.tower_dim])


def block_spreads(movie_embeddings: np.ndarray, blend: ItemBlend) -> tuple[np.ndarray, np.ndarray]:
    """Covariances over the catalogue of the trained and the item-item part of Vm."""
    d, r = blend.tower_dim, blend.rank
    out = []
    for block in (movie_embeddings[:, :d], movie_embeddings[:, d : d + r]):
        centred = block.astype(np.float64) - block.mean(axis=0, dtype=np.float64)
        out.append(centred.T @ centred / max(len(block), 1))
    return out[0], out[1]


def item_part(item_input: np.ndarray, batch: QueryBatch, blend: ItemBlend) -> np.ndarray:
    """(b, rank): each query's liked history, recent likes weighing more, pooled through P."""
    items, offsets = batch.hist_items, batch.hist_offsets
    counts = np.diff(np.append(offsets, len(items))).astype(np.float32)
    weights = recency_weights(batch, blend.tau, blend.floor)
    return _bag_sum(item_input, items, weights, offsets, counts)


def join_users(
    tower_users: np.ndarray,
    pooled: np.ndarray,
    spreads: tuple[np.ndarray, np.ndarray],
    share: float,
) -> np.ndarray:
    """Vu with both parts, [share * u / sd(u), (1 - share) * v / sd(v), 0], unit length.

    sd is the standard deviation of the part's scores over the catalogue. A
    user with no liked history has no item-item part and keeps the trained
    tower's direction alone.
    """
    u = tower_users[:, :-1].astype(np.float64)
    v = pooled.astype(np.float64)
    sd_u = np.sqrt(np.maximum(np.einsum("bi,ij,bj->b", u, spreads[0], u), 0.0))
    sd_v = np.sqrt(np.maximum(np.einsum("bi,ij,bj->b", v, spreads[1], v), 0.0))
    has_items = sd_v > 1e-12
    a = np.where(has_items, share, 1.0) / np.maximum(sd_u, 1e-12)
    b = np.where(has_items, (1.0 - share) / np.maximum(sd_v, 1e-12), 0.0)
    out = np.concatenate([u * a[:, None], v * b[:, None], np.zeros((len(u), 1))], axis=1)
    return _normalize(out).astype(np.float32)


@dataclass(kw_only=True)
class QueryModel:
    """A trained model as the library asks it: what every saved model holds, turning a
    known user or stated preferences into a `UserQuery`, and embedding and scoring it.

    `model.TrainedModel` embeds with the torch network, `ServingModel` with numpy.
    """

    features: FeatureSpace
    movie_embeddings: np.ndarray
    temperature: float
    dataset_name: str
    model_config: dict
    train_config: dict
    curves: dict[str, list[float]] = field(default_factory=dict)

    def embed_queries(self, queries: Sequence[UserQuery]) -> np.ndarray:
        if not queries:
            return np.zeros((0, self.movie_embeddings.shape[1]), dtype=np.float32)
        batch = encode_queries(self.features, queries)
        users = self._embed(batch)
        blend = self.item_blend
        if blend is None:
            return users
        pooled = item_part(self._item_input(), batch, blend)
        return join_users(users, pooled, self._spreads, blend.share)

    def _embed(self, batch: QueryBatch) -> np.ndarray:
        """The trained user tower's vectors (unit length; reads `tower_movie_embeddings`)."""
        raise NotImplementedError

    def _item_input(self) -> np.ndarray:
        """The item-item part's input factors P, float32 (n_movies, rank)."""
        raise NotImplementedError

    @cached_property
    def item_blend(self) -> ItemBlend | None:
        return ItemBlend.of(self.model_config)

    @cached_property
    def tower_movie_embeddings(self) -> np.ndarray:
        return tower_part(self.movie_embeddings, self.item_blend)

    @cached_property
    def _spreads(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.item_blend is not None
        return block_spreads(self.movie_embeddings, self.item_blend)

    def score(self, queries: Sequence[UserQuery]) -> np.ndarray:
        return self.embed_queries(queries) @ self.movie_embeddings.T / self.temperature

    def known_user_query(self, user_id: int) -> UserQuery:
        idx = self.features.user_index(user_id)
        if idx is None:
            raise KeyError(f"user {user_id} is not in the training data")
        q = self.features.known_user_query(idx)
        if not self.model_config.get("user_id_embedding", False):
            q = replace(q, user_index=None)
        return q

    def user_history(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.features.user_index(user_id)
        if idx is None:
            raise KeyError(f"user {user_id} is not in the training data")
        return self.features.history(idx)

    def preference_query(
        self,
        genres: Sequence[str],
        age: int | None = None,
        occupation: str | None = None,
        gender: str | None = None,
        liked_movie_ids: Sequence[int] = (),
    ) -> UserQuery:
        fs = self.features
        canon = []
        for g in genres:
            c = canonical_genre(g)
            if c is None:
                raise ValueError(f"unknown genre {g!r}; valid: {', '.join(fs.genres)}")
            if c not in canon:
                canon.append(c)
        history = tuple(i for i in (fs.movie_index(m) for m in liked_movie_ids) if i is not None)
        demo = fs.has_demographics
        return UserQuery(
            gender=gender if demo else None,
            age=age if demo else None,
            occupation=occupation if demo and occupation in fs.occupations else None,
            stated_genres=tuple(canon),
            history=history,
        )


@dataclass(kw_only=True)
class ServingModel(QueryModel):
    """A trained model as served: the user tower's weights as numpy arrays."""

    user_tower: dict[str, np.ndarray] = field(repr=False)

    def _embed(self, batch: QueryBatch) -> np.ndarray:
        norm = bool(self.model_config.get("norm_coordinate", False))
        recent = int(self.model_config.get("recent", 0))
        return embed_users(self.user_tower, norm, batch, self.tower_movie_embeddings, recent)

    def _item_input(self) -> np.ndarray:
        return self.user_tower[ITEM_INPUT]


def save_user_tower(state: dict[str, np.ndarray], directory: Path) -> str:
    """Write the user tower's arrays (from a numpy state dict); the torch weights leave them out."""
    # Compressed: float16 weights shrink by a tenth, and reading them back costs ~30 ms.
    np.savez_compressed(Path(directory) / USER_TOWER_FILE, **user_tower_arrays(state))
    return USER_TOWER_FILE


def has_user_tower(directory: Path) -> bool:
    return (Path(directory) / USER_TOWER_FILE).is_file()


def saved_fields(directory: Path, movie_embeddings: np.ndarray | None = None) -> dict:
    """The `QueryModel` fields of a saved model: its config, features and movie embeddings.

    The embeddings come from `movie_embeddings.npy` unless given: a model
    bundle keeps them in its Annoy index instead.
    """
    meta = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    if movie_embeddings is None:
        movie_embeddings = np.load(directory / EMBEDDINGS_FILE, allow_pickle=False)
    return {
        "features": FeatureSpace.load(directory),
        "movie_embeddings": np.asarray(movie_embeddings, dtype=np.float32),
        "temperature": float(meta["temperature"]),
        "dataset_name": meta["dataset_name"],
        "model_config": meta["model_config"],
        "train_config": meta["train_config"],
        "curves": meta.get("curves", {}),
    }


def model_error(directory: Path, exc: Exception) -> ModelError:
    return ModelError(
        f"cannot load the model in {directory}: {exc}. Retrain it with "
        f"`movierec train --dataset NAME --out {directory}`."
    )


def embedding_dim(model_config: dict) -> int:
    """Length of a movie's Vm: the trained part, plus the item-item part if any."""
    return int(model_config["dim"]) + int(model_config.get("item_rank", 0))


def check_embedding_shape(fields: dict, directory: Path) -> None:
    emb, n = fields["movie_embeddings"], fields["features"].n_movies
    dim = embedding_dim(fields["model_config"])
    if emb.shape != (n, dim):
        raise ModelError(
            f"movie embeddings in {directory} have shape {emb.shape}, expected "
            f"({n}, {dim}); retrain with `movierec train`."
        )


def read_user_tower(directory: Path) -> dict[str, np.ndarray]:
    """The user tower's arrays in float32, keys without the state-dict prefix."""
    with np.load(Path(directory) / USER_TOWER_FILE, allow_pickle=False) as z:
        tower = {k: z[k].astype(np.float32) for k in z.files}
    missing = [k for k in REQUIRED if k not in tower]
    if missing:
        raise ValueError(f"{USER_TOWER_FILE} lacks {', '.join(missing)}")
    return tower


def load_serving_model(directory: Path, movie_embeddings: np.ndarray | None = None) -> ServingModel:
    """Load a saved model for answering queries, without torch (see `saved_fields`)."""
    directory = Path(directory)
    try:
        fields = saved_fields(directory, movie_embeddings)
        tower = read_user_tower(directory)
        config = fields["model_config"]
        for key, wanted in (
            ("recent_mix.weight", int(config.get("recent", 0)) > 0),
            (ITEM_INPUT, int(config.get("item_rank", 0)) > 0),
        ):
            if wanted and key not in tower:
                raise ValueError(f"{USER_TOWER_FILE} lacks {key}, which model.json asks for")
        rank = int(config.get("item_rank", 0))
        if rank > 0 and tower[ITEM_INPUT].shape != (fields["features"].n_movies, rank):
            raise ValueError(
                f"{ITEM_INPUT} in {USER_TOWER_FILE} has shape {tower[ITEM_INPUT].shape}, "
                f"expected ({fields['features'].n_movies}, {rank})"
            )
    except Exception as exc:  # noqa: BLE001 - any failure here means "this is not our model"
        raise model_error(directory, exc) from exc
    check_embedding_shape(fields, directory)
    return ServingModel(**fields, user_tower=tower)
