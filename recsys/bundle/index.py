"""The Annoy index over movie embeddings, and filtered nearest-neighbour queries.

Movie embeddings are L2-normalised, and for unit vectors Annoy's angular
distance d satisfies cos = 1 - d²/2, so Annoy ranks movies exactly as the
model's score does. Item ids are the dense movie indices 0..n-1.

The index file is written next to a JSON sidecar (`<name>.json`) that records
how it was built; `MovieIndex.open` refuses an index whose sidecar does not
match it. Scores returned by queries are exact cosines recomputed with numpy
from the embeddings, so only the candidate set is approximate.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import numpy as np
from annoy import AnnoyIndex

from recsys.metrics.ranking import top_positions
from recsys.model.vectors import unit_rows

METRIC: Final = "angular"
SIDECAR_VERSION = 1
# Chosen with bench/bench_index.py (see bench/results/index.md): recall@10 >= 0.99
# against exact search on ML-100K and ml-latest-small models, with a small file
# (each tree of the 256-dimensional shipped model adds about 0.13 MB).
DEFAULT_N_TREES = 5
DEFAULT_SEED = 42
# Candidates Annoy gathers per requested neighbour (its own default is n_trees).
DEFAULT_SEARCH_K_PER_ITEM = 1500
# ... and at least this many in all. Users' vectors with the item-item part lean
# on directions the trees split less often: on the shipped model, the top 1 of
# 300 users came back right 32% of the time from 1,500 candidates, 98% from
# 3,000 and 100% from 6,000 (bench/results/index.md, "k = 1" rows).
MIN_SEARCH_K = 6000
# An angular node in Annoy's file: n_descendants and two children (int32 each),
# then the float32 vector.
NODE_HEADER_BYTES = 12

# An `allowed` filter: a boolean mask over dense movies, or a predicate on a dense index.
Allowed = np.ndarray | Callable[[int], bool] | None


class IndexFileError(ValueError):
    """The index file or its sidecar is missing, corrupt or does not match."""


@dataclass(frozen=True)
class IndexInfo:
    """What the sidecar records about an index file."""

    dimension: int
    metric: str
    n_items: int
    n_trees: int
    seed: int
    search_k_per_item: int
    file_bytes: int
    version: int = SIDECAR_VERSION

    def search_k(self, n: int) -> int:
        """Nodes to inspect when asking Annoy for `n` neighbours."""
        return max(n * self.search_k_per_item, n * self.n_trees)


def sidecar_path(index_path: Path) -> Path:
    return Path(index_path).with_suffix(".json")


def build_index(
    embeddings: np.ndarray,
    path: Path,
    n_trees: int = DEFAULT_N_TREES,
    seed: int = DEFAULT_SEED,
    search_k_per_item: int = DEFAULT_SEARCH_K_PER_ITEM,
) -> IndexInfo:
    """Build an angular Annoy index over `embeddings` rows and save it with its sidecar.

    Built with one thread and a fixed seed: multithreaded Annoy builds are not
    reproducible. Both files are written to temporary names and renamed into place.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise ValueError(f"embeddings must be a non-empty 2-D array, got shape {emb.shape}")
    if not np.isfinite(emb).all():
        raise ValueError("embeddings contain NaN or infinite values; retrain the model")
    if n_trees < 1:
        raise ValueError(f"n_trees must be >= 1, got {n_trees}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n, dim = emb.shape
    index = AnnoyIndex(dim, METRIC)
    index.set_seed(seed)
    for i in range(n):
        index.add_item(i, emb[i])
    index.build(n_trees, n_jobs=1)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    index.save(str(tmp))
    index.unload()
    os.replace(tmp, path)
    info = IndexInfo(
        dimension=dim,
        metric=METRIC,
        n_items=n,
        n_trees=n_trees,
        seed=seed,
        search_k_per_item=search_k_per_item,
        file_bytes=path.stat().st_size,
    )
    side = sidecar_path(path)
    side_tmp = side.with_name(f".{side.name}.tmp-{os.getpid()}")
    side_tmp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    os.replace(side_tmp, side)
    return info


def read_sidecar(index_path: Path) -> IndexInfo:
    side = sidecar_path(index_path)
    try:
        raw = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFileError(f"index sidecar {side} is missing; rebuild the index") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexFileError(
            f"index sidecar {side} is unreadable ({exc}); rebuild the index"
        ) from None
    try:
        info = IndexInfo(**raw)
    except TypeError as exc:
        raise IndexFileError(f"index sidecar {side} has unexpected fields ({exc})") from None
    if info.version != SIDECAR_VERSION:
        raise IndexFileError(
            f"index sidecar {side} has version {info.version}, expected {SIDECAR_VERSION}; "
            "rebuild the index"
        )
    if info.metric != METRIC:
        raise IndexFileError(
            f"index sidecar {side} says metric {info.metric!r}, expected {METRIC!r}"
        )
    return info


class MovieIndex:
    """A loaded (memory-mapped) index plus the exact embeddings it was built from."""

    def __init__(self, annoy: AnnoyIndex, info: IndexInfo, vectors: np.ndarray, path: Path):
        self._annoy = annoy
        self.info = info
        # The float32 vectors exactly as the index was built from (a model bundle
        # keeps its movie embeddings here only), and their unit rows for scoring.
        self.vectors = vectors
        self.embeddings = unit_rows(np.asarray(vectors, dtype=np.float32))
        self.path = path
        self.min_search_k = MIN_SEARCH_K

    def search_k(self, n: int) -> int:
        """Candidates Annoy gathers for `n` neighbours: the sidecar's per-item
        count, and at least `min_search_k` in all."""
        return max(self.info.search_k(n), self.min_search_k)

    @property
    def n_items(self) -> int:
        return self.info.n_items

    @classmethod
    def open(cls, path: Path) -> MovieIndex:
        """mmap the index at `path`, checking it against its sidecar; the vectors are read
        back from the index file, where Annoy stores them unchanged (float32, bit for bit)."""
        path = Path(path)
        info = read_sidecar(path)
        if not path.is_file():
            raise IndexFileError(f"index file {path} is missing; rebuild the index")
        size = path.stat().st_size
        node_bytes = NODE_HEADER_BYTES + 4 * info.dimension
        if size != info.file_bytes or size % node_bytes:
            raise IndexFileError(
                f"index file {path} has {size} bytes but its sidecar expects {info.file_bytes} "
                f"(dimension {info.dimension}); the file and sidecar do not belong together"
            )
        annoy = AnnoyIndex(info.dimension, METRIC)
        try:
            annoy.load(str(path))
        except OSError as exc:
            raise IndexFileError(f"index file {path} could not be loaded ({exc})") from None
        if annoy.get_n_items() != info.n_items or annoy.get_n_trees() != _trees_seen(info):
            raise IndexFileError(
                f"index file {path} holds {annoy.get_n_items()} items / "
                f"{annoy.get_n_trees()} trees but its sidecar says {info.n_items} / {info.n_trees}"
            )
        return cls(annoy, info, _stored_vectors(annoy, info, path, node_bytes), path)

    def close(self) -> None:
        self._annoy.unload()

    # -- queries -----------------------------------------------------------

    def exact_query(
        self, vector: np.ndarray, k: int, allowed: Allowed = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The exact top-k by cosine (numpy oracle), restricted to `allowed`."""
        v = _unit(vector, self.info.dimension)
        mask = self._mask(allowed)
        return _top_k(row_dots(self.embeddings, v), k, mask)

    def query(
        self,
        vector: np.ndarray,
        k: int,
        allowed: Allowed = None,
        search_k: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-k by cosine, restricted to `allowed`.

        Returns (dense indices, exact cosines), best first; ties go to the lower
        index. Small catalogues, where Annoy would gather as many candidates as
        there are movies, are scored exactly with numpy instead (unless `search_k`
        is given). Asks Annoy for more candidates than k when a filter is set,
        growing the request until k survive, and falls back to exact scoring
        when the filter is too selective for that to pay off; so a filtered
        query returns k movies whenever k movies pass the filter.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        v = _unit(vector, self.info.dimension)
        n = self.info.n_items
        mask = self._mask(allowed)
        n_allowed = n if mask is None else int(mask.sum())
        want = min(k, n_allowed)
        if want == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if mask is None:
            fetch = want
        else:
            # Enough candidates if the filter were independent of the query; the loop
            # grows the request when it is not (seen movies cluster near the user).
            fetch = min(n, max(4 * want, math.ceil(1.5 * want * n / n_allowed) + want))
        while True:
            # The candidate pool is sized for the `want` results returned (search_k),
            # and is at least Annoy's own default for the `fetch` asked of it.
            base = search_k if search_k is not None else self.search_k(want)
            sk = max(base, fetch * self.info.n_trees)
            # Annoy gathers about search_k candidates; once that reaches the catalogue
            # size, one exact numpy pass is both cheaper and exact. An explicit
            # search_k still asks Annoy for unfiltered queries (the recall benchmark).
            if sk > n and (mask is not None or search_k is None):
                break
            cand = np.asarray(self._annoy.get_nns_by_vector(v, fetch, search_k=sk), dtype=np.int64)
            if mask is not None:
                cand = cand[mask[cand]]
            if len(cand) >= want:
                return _top_k(row_dots(self.embeddings[cand], v), want, None, cand)
            if fetch >= n:
                break
            fetch = min(n, fetch * 4)
        return _top_k(row_dots(self.embeddings, v), want, mask)

    def _mask(self, allowed: Allowed) -> np.ndarray | None:
        if allowed is None:
            return None
        n = self.info.n_items
        if callable(allowed):
            return np.fromiter((bool(allowed(i)) for i in range(n)), dtype=bool, count=n)
        mask = np.asarray(allowed, dtype=bool)
        if mask.shape != (n,):
            raise ValueError(f"allowed mask has shape {mask.shape}, expected ({n},)")
        return mask


def _spot_rows(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, 17).astype(int))


def _trees_seen(info: IndexInfo) -> int:
    """How many trees Annoy's loader reports for a sound file built with `info`.

    A leaf holds up to dimension + 2 items, so with no more items than that each
    tree is one leaf; the loader (annoy 1.17) then takes those leaves for roots
    as well as the root copies at the end of the file, and reports
    2 * n_trees - 1. Searches are unaffected.
    """
    if info.n_items <= info.dimension + 2:
        return 2 * info.n_trees - 1
    return info.n_trees


def _stored_vectors(annoy: AnnoyIndex, info: IndexInfo, path: Path, node_bytes: int) -> np.ndarray:
    """The items' vectors as stored in the index file.

    Items are the file's first n nodes, each a header and the vector.
    Reading them as one array takes milliseconds where `get_item_vector` per
    item takes 0.14 s for 10k movies; rows checked against that public call
    make sure the layout is the one this code expects.
    """
    raw = np.fromfile(path, dtype=np.uint8, count=info.n_items * node_bytes)
    emb = np.ascontiguousarray(raw.reshape(info.n_items, node_bytes)[:, NODE_HEADER_BYTES:]).view(
        np.float32
    )
    for i in _spot_rows(info.n_items):
        if not np.array_equal(np.asarray(annoy.get_item_vector(int(i)), np.float32), emb[i]):
            raise IndexFileError(
                f"index file {path}: item {i} read from the file differs from what Annoy "
                "returns for it (an unexpected file layout); rebuild the index"
            )
    return emb


def exact_top_k(
    matrix: np.ndarray, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k rows of `matrix` (unit rows) by cosine with `vector`, within `allowed`."""
    v = _unit(vector, matrix.shape[1])
    return _top_k(row_dots(matrix, v), k, allowed)


def row_dots(matrix: np.ndarray, v: np.ndarray) -> np.ndarray:
    """matrix @ v without BLAS.

    A multithreaded BLAS gemv on a busy machine waits for its thread pool:
    measured 12 ms against 0.2 ms here for 9742 x 64 (bench/results/index.md).
    einsum's own single-threaded loop keeps per-query latency predictable.
    """
    dots: np.ndarray = np.einsum("ij,j->i", matrix, v)
    return dots


def _unit(vector: np.ndarray, dim: int) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.shape != (dim,):
        raise ValueError(f"query vector has {v.size} values, the index has dimension {dim}")
    norm = float(np.linalg.norm(v))
    if not math.isfinite(norm) or norm == 0.0:
        raise ValueError("query vector is zero or not finite")
    return v / norm


def _top_k(
    scores: np.ndarray, k: int, mask: np.ndarray | None, ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of `scores` (optionally masked), as (ids, scores) best first, ties to lower id."""
    ids = np.arange(len(scores), dtype=np.int64) if ids is None else ids
    if mask is not None:
        ids, scores = ids[mask], scores[mask]
    top = top_positions(scores, k, tiebreak=ids)
    return ids[top], scores[top].astype(np.float32)
