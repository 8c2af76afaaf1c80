"""Where the embedded dataset and the shipped model live, in a checkout and when installed.

A checkout (and an editable install) keeps them at the repository's top level,
`data/` and `models/`. A wheel carries the same two folders as the package
`movierec_assets` (pyproject.toml maps them), so `pip install .` into any
environment finds them without the checkout.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

EMBEDDED_DATASET = "ml-latest-small"
SHIPPED_MODEL = "default"
ASSETS_PACKAGE = "movierec_assets"


def asset_dir(kind: str) -> Path:
    """The `data` or `models` folder: the checkout's if this is one, else the installed copy."""
    checkout = Path(__file__).resolve().parents[2] / kind
    if checkout.is_dir():
        return checkout
    spec = importlib.util.find_spec(f"{ASSETS_PACKAGE}.{kind}")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return checkout  # missing either way; callers say what to reinstall


def default_dataset_path() -> Path:
    """The embedded ml-latest-small copy shipped with movierec."""
    return asset_dir("data") / EMBEDDED_DATASET


def default_model_path() -> Path:
    """The model bundle shipped with movierec (trained on the embedded dataset)."""
    return asset_dir("models") / SHIPPED_MODEL
