"""The Annoy movie index: reproducible builds, sidecar checks, filtered queries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recsys.bundle.index import (
    MIN_SEARCH_K,
    IndexFileError,
    MovieIndex,
    build_index,
    read_sidecar,
    sidecar_path,
)
from recsys.model.vectors import unit_rows


def clustered_embeddings(n: int = 400, dim: int = 16, seed: int = 0) -> np.ndarray:
    """Unit vectors in a few clusters, like trained movie embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, dim))
    emb = centres[rng.integers(0, 8, n)] + 0.6 * rng.normal(size=(n, dim))
    return unit_rows(emb)


@pytest.fixture(scope="module")
def emb() -> np.ndarray:
    return clustered_embeddings()


@pytest.fixture
def index(emb: np.ndarray, tmp_path: Path) -> MovieIndex:
    build_index(emb, tmp_path / "index.ann", n_trees=20, seed=7)
    return MovieIndex.open(tmp_path / "index.ann")


def test_same_seed_builds_identical_files(emb: np.ndarray, tmp_path: Path) -> None:
    a = build_index(emb, tmp_path / "a.ann", n_trees=10, seed=3)
    b = build_index(emb, tmp_path / "b.ann", n_trees=10, seed=3)
    assert a == b
    assert (tmp_path / "a.ann").read_bytes() == (tmp_path / "b.ann").read_bytes()
    c = build_index(emb, tmp_path / "c.ann", n_trees=10, seed=4)
    assert c.seed == 4
    assert (tmp_path / "a.ann").read_bytes() != (tmp_path / "c.ann").read_bytes()


def test_sidecar_records_the_build(emb: np.ndarray, tmp_path: Path) -> None:
    info = build_index(emb, tmp_path / "index.ann", n_trees=12, seed=5)
    raw = json.loads(sidecar_path(tmp_path / "index.ann").read_text())
    assert raw["dimension"] == emb.shape[1]
    assert raw["n_items"] == emb.shape[0]
    assert raw["n_trees"] == 12 and raw["seed"] == 5 and raw["metric"] == "angular"
    assert read_sidecar(tmp_path / "index.ann") == info
    assert info.file_bytes == (tmp_path / "index.ann").stat().st_size


def test_open_refuses_mismatched_sidecar(emb: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "index.ann"
    build_index(emb, path, n_trees=5)
    side = sidecar_path(path)
    good = json.loads(side.read_text())
    for field, value in (("dimension", 8), ("n_items", 399), ("n_trees", 6)):
        side.write_text(json.dumps({**good, field: value}))
        with pytest.raises(IndexFileError):
            MovieIndex.open(path)
    side.unlink()
    with pytest.raises(IndexFileError, match="sidecar .* missing"):
        MovieIndex.open(path)


def test_open_reads_the_vectors_back_bit_for_bit(tmp_path: Path) -> None:
    # Not unit rows: what is read back must be what was built from, not a re-normalised copy.
    vectors = (clustered_embeddings() * np.linspace(0.5, 2.0, 400)[:, None]).astype(np.float32)
    build_index(vectors, tmp_path / "index.ann", n_trees=5)
    idx = MovieIndex.open(tmp_path / "index.ann")
    assert idx.vectors.dtype == np.float32
    np.testing.assert_array_equal(idx.vectors, vectors)
    np.testing.assert_allclose(idx.embeddings, unit_rows(vectors), atol=1e-7)
    assert idx.vectors.flags.c_contiguous


def test_annoy_agrees_with_exact(index: MovieIndex, emb: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    overlap = []
    for _ in range(50):
        v = rng.normal(size=emb.shape[1])
        # An explicit search_k keeps this on Annoy: by default a catalogue this small
        # is scored exactly (see the next test).
        got, cos = index.query(v, 10, search_k=index.info.search_k(10))
        want, want_cos = index.exact_query(v, 10)
        overlap.append(len(set(got) & set(want)) / 10)
        # Scores are exact cosines, best first.
        np.testing.assert_allclose(cos, emb[got] @ (v / np.linalg.norm(v)), rtol=1e-5, atol=1e-6)
        assert np.all(np.diff(cos) <= 1e-7)
    assert np.mean(overlap) >= 0.97


def test_small_catalogue_is_scored_exactly_without_annoy(index: MovieIndex, emb) -> None:
    counting = CountingAnnoy(index._annoy)
    index._annoy = counting
    v = emb[5] + emb[250]
    got, _ = index.query(v, 10)
    assert counting.calls == []  # 10 x search_k_per_item candidates exceed 400 movies
    want, _ = index.exact_query(v, 10)
    np.testing.assert_array_equal(got, want)
    index.query(v, 10, search_k=50)
    assert counting.calls == [10]


def test_exact_query_is_the_true_top_k(index: MovieIndex, emb: np.ndarray) -> None:
    v = emb[3] + emb[99]
    got, cos = index.exact_query(v, 7)
    scores = emb @ (v / np.linalg.norm(v))
    assert set(got) == set(np.argsort(-scores)[:7])
    np.testing.assert_allclose(cos, np.sort(scores)[::-1][:7], rtol=1e-5)


def test_item_is_its_own_nearest_neighbour(index: MovieIndex, emb: np.ndarray) -> None:
    for i in (0, 17, 399):
        got, cos = index.query(emb[i], 1)
        assert got[0] == i and cos[0] == pytest.approx(1.0, abs=1e-5)


class CountingAnnoy:
    """Wraps the Annoy object to count the queries that reach it."""

    def __init__(self, annoy) -> None:
        self.annoy, self.calls = annoy, []

    def get_nns_by_vector(self, v, n, search_k=-1):
        self.calls.append(n)
        return self.annoy.get_nns_by_vector(v, n, search_k=search_k)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> MovieIndex:
    """5000 movies: Annoy stays cheaper than a full scan for modest over-fetches."""
    emb = clustered_embeddings(n=5000, seed=3)
    path = tmp_path_factory.mktemp("big") / "index.ann"
    build_index(emb, path, n_trees=10, seed=1, search_k_per_item=100)
    index = MovieIndex.open(path)
    assert index.search_k(1) == MIN_SEARCH_K > index.n_items
    # The floor would score this catalogue exactly every time; these tests are
    # about the per-item candidates and the filter logic, so it is lifted here.
    index.min_search_k = 0
    return index


@pytest.mark.parametrize(("share", "via_annoy"), [(0.9, True), (0.3, True), (0.02, False)])
def test_filtered_query_returns_k_allowed(big: MovieIndex, share: float, via_annoy: bool) -> None:
    big._annoy = spy = CountingAnnoy(big._annoy)
    try:
        rng = np.random.default_rng(int(share * 100))
        mask = rng.random(big.n_items) < share
        v = rng.normal(size=big.info.dimension)
        got, cos = big.query(v, 10, allowed=mask)
        assert len(got) == 10 and mask[got].all()
        want, _ = big.exact_query(v, 10, allowed=mask)
        # Approximate; recall is measured in bench/bench_index.py..
        assert len(set(got) & set(want)) >= 7
        # A selective filter would make Annoy scan the catalogue: exact scoring instead.
        assert bool(spy.calls) is via_annoy
        if not via_annoy:
            np.testing.assert_array_equal(got, want)
    finally:
        big._annoy = spy.annoy


def test_filter_correlated_with_query_still_fills_k(big: MovieIndex) -> None:
    # Exclude exactly the 60 nearest movies, like a user's seen films clustering near them.
    big._annoy = spy = CountingAnnoy(big._annoy)
    try:
        v = big.embeddings[5]
        nearest, _ = big.exact_query(v, 60)
        mask = np.ones(big.n_items, dtype=bool)
        mask[nearest] = False
        got, _ = big.query(v, 10, allowed=mask)
        assert len(got) == 10 and mask[got].all()
        want, _ = big.exact_query(v, 10, allowed=mask)
        assert len(set(got) & set(want)) >= 7
        # The first request (40) found only excluded movies, so the request grew.
        assert spy.calls == [40, 160]
    finally:
        big._annoy = spy.annoy


@pytest.mark.parametrize("share", [0.5, 0.05, 0.002])
def test_small_catalogue_filters_are_exact(
    index: MovieIndex, emb: np.ndarray, share: float
) -> None:
    rng = np.random.default_rng(7)
    mask = rng.random(len(emb)) < share
    v = rng.normal(size=emb.shape[1])
    got, _ = index.query(v, 10, allowed=mask)
    want, _ = index.exact_query(v, 10, allowed=mask)
    np.testing.assert_array_equal(got, want)
    assert len(got) == min(10, mask.sum())


def test_callable_filter_and_tiny_survivor_set(index: MovieIndex, emb: np.ndarray) -> None:
    allowed = {11, 222, 333}
    got, cos = index.query(emb[0], 10, allowed=lambda i: i in allowed)
    assert set(got) == allowed  # fewer than k exist: all of them, none other
    assert np.all(np.diff(cos) <= 0)
    got, _ = index.query(emb[0], 10, allowed=np.zeros(len(emb), dtype=bool))
    assert len(got) == 0


def test_query_rejects_bad_input(index: MovieIndex) -> None:
    with pytest.raises(ValueError, match="dimension"):
        index.query(np.ones(3), 5)
    with pytest.raises(ValueError, match="zero"):
        index.query(np.zeros(16), 5)
    with pytest.raises(ValueError, match="k must be"):
        index.query(np.ones(16), 0)
    with pytest.raises(ValueError, match="mask"):
        index.query(np.ones(16), 5, allowed=np.ones(3, dtype=bool))


def test_build_rejects_bad_embeddings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2-D"):
        build_index(np.ones(5), tmp_path / "x.ann")
    bad = np.ones((4, 3), dtype=np.float32)
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        build_index(bad, tmp_path / "x.ann")
    assert not (tmp_path / "x.ann").exists()
