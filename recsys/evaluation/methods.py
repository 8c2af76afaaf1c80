"""The names of what an evaluation can run (torch-free, for the command line's help)."""

from __future__ import annotations

from pathlib import Path

PROTOCOLS = ("W", "C", "F")
ALL_METHODS = (
    "popularity",
    "genre-popularity",
    "genre-content",
    "naive-two-tower",
    "ease",
    "model",
)
NEEDS_HISTORY = frozenset({"ease"})  # a rating history or named liked movies: not on C
# Protocol F's methods: the baselines that read what a new user says, and the model;
# the model's answer without the liked movies comes with it.
CONVERSATION_METHODS = frozenset({"popularity", "genre-popularity", "ease", "model"})
NO_LIKED = "model-no-liked"
TOWERS = "towers"  # C and F: the trained towers' own scores, without the recipe's re-ranking
EASE_GRID = (50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0)
DEFAULT_OUT = Path("bench/results/eval")
