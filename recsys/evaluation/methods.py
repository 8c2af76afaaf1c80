"""The names of what an evaluation can run (torch-free, for the command line's help)."""

from __future__ import annotations

from pathlib import Path

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
