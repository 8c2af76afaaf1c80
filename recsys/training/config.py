"""Training settings: one typed config, grouped by what each part of training reads.

`TrainConfig.model` is the `ModelConfig` the trained model is saved with; the
other groups only shape training. `with_settings` applies `name=value`
overrides (the command line's `--set`) to any field, by its group-qualified
name (`loop.epochs`) or its bare name when that is unique (`epochs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from recsys.model.config import ModelConfig


@dataclass(frozen=True)
class ExampleConfig:
    """How each step's examples are drawn from a user's history (`recsys.training.examples`)."""

    cold_rate: float = 0.2  # share of examples with no history (new users)
    # Chance per user and epoch of one more example, as a new user, besides the
    # usual one: the cold-start path learns from more examples without taking
    # any from the warm one (ML-100K C, 3 seeds: mean NDCG@10 0.512 -> 0.519).
    cold_extra: float = 0.5
    movie_id_drop: float = 0.2  # share of movies per step whose id embedding is dropped
    stated_drop: float = 0.3  # share of warm examples without stated genres
    stated_full: float = 0.7  # share of examples stating all their top genres (else a subset)
    temporal_share: float = 0.5  # share of warm examples split by time (else at random)
    # Each demographic field is left out of an example with this chance: when
    # present together they nearly identify a person, and a cold-start model that
    # leans on them memorises users instead of learning taste (ML-100K C rose
    # from 0.48 to 0.51 going from 0.2 to 0.8).
    demographic_drop: float = 0.8
    disliked_target_weight: float = 0.3
    # A new user's liked movies outside the genres they state weigh this much as
    # targets. 1 treats every like alike, as protocol C scores; lower pulls
    # cold-start answers toward the stated genres.
    cold_offgenre_weight: float = 1.0
    # Chance that an extra new-user example (`cold_extra`) also names 1..cold_named_max of
    # the user's likes as its history, the earliest ones with chance cold_named_earliest
    # (else a random few), as a person naming favourites to the preferences tool does. The
    # towers had never seen that input: with it, ML-100K F1 NDCG@10 rose from 0.314 to
    # 0.340 (3 seeds; /work/scratch13/DESIGN.md A.1); 0.5 was weaker. 0 turns it off.
    cold_named: float = 1.0
    cold_named_max: int = 5
    cold_named_earliest: float = 0.5


@dataclass(frozen=True)
class LoopConfig:
    """The optimisation loop, early stopping and the continuation on all data."""

    # Upper bound; early stopping often ends sooner. On ml-latest-small the
    # validation score still creeps up past 150 epochs, so this bound is what
    # keeps its training within a minute on two cores.
    epochs: int = 70
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-5
    # Validate and ship an exponential moving average of the weights (decay per
    # step; 0 = the raw weights): on ML-100K C over 3 seeds, NDCG@10 0.508 -> 0.512.
    ema_decay: float = 0.95
    val_share: float = 0.1  # last share of each user's ratings held out for early stopping
    eval_every: int = 5
    patience: int = 4  # evaluations without improvement before stopping
    # After early stopping, training continues from the best state on all the
    # data for this share of the chosen epochs.
    tune_share: float = 0.7


@dataclass(frozen=True)
class ItemFitConfig:
    """How the item-item part is fitted (its rank and floor are in `ModelConfig`)."""

    movies: int = 2000  # the most-liked movies EASE is fitted over
    lam: float = 100.0  # EASE's λ


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    examples: ExampleConfig = field(default_factory=ExampleConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    item: ItemFitConfig = field(default_factory=ItemFitConfig)
    seed: int = 0

    def check(self) -> None:
        """Raise ValueError, saying what to change, for settings training cannot use."""
        ex, loop, model = self.examples, self.loop, self.model
        if not 0.0 <= loop.ema_decay < 1.0:
            raise ValueError(
                f"ema_decay must be in [0, 1) (0 turns averaging off), got {loop.ema_decay}"
            )
        if not 0.0 <= ex.cold_offgenre_weight <= 1.0:
            raise ValueError(
                f"cold_offgenre_weight must be in [0, 1] (1 weighs every like alike); "
                f"got {ex.cold_offgenre_weight}"
            )
        for name in ("cold_named", "cold_named_earliest"):
            if not 0.0 <= getattr(ex, name) <= 1.0:
                raise ValueError(f"{name} is a chance, in [0, 1]; got {getattr(ex, name)}")
        if ex.cold_named_max < 1:
            raise ValueError(
                f"cold_named_max is a count of movies, at least 1; got {ex.cold_named_max}"
            )
        if not 0.0 <= ex.cold_extra <= 1.0:
            raise ValueError(
                f"cold_extra is a chance per user and epoch, in [0, 1]; got {ex.cold_extra}"
            )
        if model.recent < 0:
            raise ValueError(f"recent is a count of movies (0 turns it off); got {model.recent}")
        if model.item_rank < 0:
            raise ValueError(
                f"item_rank is a rank (0 turns the item-item part off); got {model.item_rank}"
            )
        if model.dim < 2:
            raise ValueError(
                f"dim must be at least 2 (one is the norm coordinate), got {model.dim}"
            )
        if loop.epochs < 1 or loop.batch_size < 1 or loop.eval_every < 1:
            raise ValueError("epochs, batch_size and eval_every must be at least 1")

    def _groups(self) -> dict[str, Group]:
        return {
            "model": self.model,
            "examples": self.examples,
            "loop": self.loop,
            "item": self.item,
        }

    def with_settings(self, settings: Mapping[str, str]) -> TrainConfig:
        """A copy with `name=value` overrides (text, as typed on the command line), each
        value parsed as its field's type."""
        groups = self._groups()
        values: dict[str, Any] = {}
        for key, raw in settings.items():
            group, name = _locate(key, groups)
            current = self.seed if group is None else getattr(groups[group], name)
            values[key] = _parse(raw, type(current), key)
        return self.with_values(**values)

    def with_values(self, **values: Any) -> TrainConfig:
        """A copy with fields replaced, named `group.name` or by a unique bare name
        (`epochs=5`, `dim=16`, `seed=1`)."""
        groups = self._groups()
        changed: dict[str, dict[str, Any]] = {name: {} for name in groups}
        top: dict[str, Any] = {}
        for key, value in values.items():
            group, name = _locate(key, groups)
            if group is None:
                top[name] = value
            else:
                changed[group][name] = value
        return replace(
            self,
            model=replace(self.model, **changed["model"]),
            examples=replace(self.examples, **changed["examples"]),
            loop=replace(self.loop, **changed["loop"]),
            item=replace(self.item, **changed["item"]),
            **top,
        )


Group = ModelConfig | ExampleConfig | LoopConfig | ItemFitConfig


def _names(group: Group) -> set[str]:
    return {f.name for f in fields(group)}


def _locate(key: str, groups: Mapping[str, Group]) -> tuple[str | None, str]:
    name = key.strip().replace("-", "_")
    if name == "seed":
        return None, name
    group, dot, bare = name.partition(".")
    if dot and group in groups and bare in _names(groups[group]):
        return group, bare
    owners = [g for g, cfg in groups.items() if name in _names(cfg)]
    if not dot and len(owners) == 1:
        return owners[0], name
    known = sorted(f"{g}.{n}" for g, cfg in groups.items() for n in _names(cfg))
    raise ValueError(f"unknown training setting {key!r}; known: seed, {', '.join(known)}")


def _parse(raw: str, kind: type, key: str) -> Any:
    text = raw.strip()
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{key} takes true or false, got {raw!r}")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{key} takes a {kind.__name__}, got {raw!r}") from None
