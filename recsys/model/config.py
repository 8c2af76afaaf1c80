"""The model's settings: one typed, torch-free config that travels inside every saved model.

`model.json` stores `asdict(ModelConfig)` and loading rebuilds it with
`ModelConfig.from_stored` (`recsys.model.stored.read_fields`), so the
trainer, the torch towers and the numpy serving path read the same typed
fields (as nanoGPT keeps `model_args` in its checkpoint). A stored config
with fields this code does not know is refused with a message to retrain,
rather than half-read.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys.model.stored import read_fields

# Without a validation slice to choose them on, the item-item part's recency of
# likes and the trained part's weight fall back to these.
FALLBACK_TAU, FALLBACK_SHARE = 5.0, 0.5


@dataclass(frozen=True)
class ModelConfig:
    # Length of the trained part of Vm and Vu, the last coordinate carrying the
    # movie's length (see recsys.model.vectors.with_norm_coordinate).
    dim: int = 128
    hidden: int = 256
    temperature: float = 0.07
    dropout: float = 0.1
    id_init_std: float = 0.05
    # The last `recent` movies of a history (oldest first, as histories are kept)
    # are pooled once more through the same input table and a map of their own,
    # so what a person watched lately can weigh differently. 0 turns it off.
    recent: int = 10
    # The item-item part (recsys.model.itemitem): its rank (0: none), the weight
    # floor of old likes, and the recency of likes and the trained part's weight
    # against it, both chosen on validation (recsys.training.validation).
    item_rank: int = 128
    item_floor: float = 0.5
    item_tau: float = FALLBACK_TAU
    item_share: float = FALLBACK_SHARE

    @property
    def raw_dim(self) -> int:
        """The towers' raw output length: `dim` without the norm coordinate."""
        return self.dim - 1

    @property
    def embedding_dim(self) -> int:
        """Length of a movie's Vm: the trained part, plus the item-item part if any."""
        return self.dim + self.item_rank

    @classmethod
    def from_stored(cls, stored: object) -> ModelConfig:
        """The config saved in a model's `model.json`; ValueError says what does not fit."""
        return read_fields(cls, stored, "model_config")
