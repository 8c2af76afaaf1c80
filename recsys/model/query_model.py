"""A trained model as the library asks it: turning a known user or stated preferences into a
`UserQuery`, embedding it and scoring the catalogue.

`QueryModel` holds what every model holds (features, movie embeddings,
config) and joins the item-item part; subclasses say how the trained user
tower runs: `ServingModel` with numpy (what the server answers with),
`recsys.model.towers.TrainedModel` with the torch network (training and
evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from recsys.data.vocab import canonical_genre
from recsys.features.encoding import QueryBatch, encode_queries
from recsys.features.queries import UserQuery
from recsys.model.blend import ItemBlend, block_spreads, item_part, join_users, tower_part
from recsys.model.files import SavedModel, read_saved, read_user_tower
from recsys.model.user_tower import ITEM_INPUT, embed_users
from recsys.model.vectors import unit_rows


@dataclass(frozen=True, kw_only=True)
class QueryModel(SavedModel):
    """A saved model that embeds queries; subclasses run the trained user tower."""

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
        return ItemBlend.of(self.config)

    @cached_property
    def tower_movie_embeddings(self) -> np.ndarray:
        return tower_part(self.movie_embeddings, self.item_blend)

    @cached_property
    def _spreads(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.item_blend is not None
        return block_spreads(self.movie_embeddings, self.item_blend)

    def trained_scores(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """The trained part's raw scores u.x over the catalogue, float32 (queries, movies):
        no item-item part and no temperature, which `recsys.ranking` standardises per request."""
        n = self.features.n_movies
        if not queries:
            return np.zeros((0, n), dtype=np.float32)
        users = self._embed(encode_queries(self.features, queries))
        scores: np.ndarray = users[:, :-1] @ self.movie_embeddings[:, : self.config.raw_dim].T
        return scores

    @cached_property
    def tower_directions(self) -> np.ndarray:
        """Unit directions of each movie's trained part x: what the movie tower reads the movie
        as, without its length (how broadly it is liked)."""
        return unit_rows(self.movie_embeddings[:, : self.config.raw_dim]).astype(np.float32)

    def score(self, queries: Sequence[UserQuery]) -> np.ndarray:
        scores: np.ndarray = (
            self.embed_queries(queries) @ self.movie_embeddings.T / self.config.temperature
        )
        return scores

    def known_user_query(self, user_id: int) -> UserQuery:
        idx = self.features.user_index(user_id)
        if idx is None:
            raise KeyError(f"user {user_id} is not in the training data")
        return self.features.known_user_query(idx)

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
        canon: list[str] = []
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


@dataclass(frozen=True, kw_only=True)
class ServingModel(QueryModel):
    """A trained model as served: the user tower's weights as numpy arrays."""

    user_tower: dict[str, np.ndarray] = field(repr=False)

    def _embed(self, batch: QueryBatch) -> np.ndarray:
        return embed_users(self.user_tower, batch, self.tower_movie_embeddings, self.config.recent)

    def _item_input(self) -> np.ndarray:
        return self.user_tower[ITEM_INPUT]


def load_serving_model(directory: Path, movie_embeddings: np.ndarray) -> ServingModel:
    """Load a saved model for answering queries, without torch; its movie embeddings come
    from the bundle's index. Raises ModelError saying what to run."""
    saved = read_saved(directory, movie_embeddings)
    tower = read_user_tower(directory, saved)
    return ServingModel(**vars(saved), user_tower=tower)
