"""The evaluation's outputs: the JSON report (written atomically), plots and the table."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys.data.dataset import Dataset
from recsys.data.vocab import GENRES
from recsys.evaluation.scorer import EmbeddingScorer

if TYPE_CHECKING:  # matplotlib is an optional extra, imported when plotting
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "dataset"


def jsonable(value: object) -> Any:
    """`value` as plain JSON: str keys, lists, Python scalars, None for inf and NaN."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write via a temporary sibling and rename, so a reader never sees half a file."""
    # A plain new file (not mkstemp's 0600) so the result gets the usual permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: dict[str, Any]) -> None:
    text = json.dumps(jsonable(payload), indent=2) + "\n"
    _atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components of the rows of x, via SVD of the centred matrix."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    if comps.shape[0] < 2:
        comps = np.vstack([comps, np.zeros((2 - comps.shape[0], x.shape[1]))])
    xy: np.ndarray = centred @ comps.T
    return xy


def write_plots(scorer: EmbeddingScorer, dataset: Dataset, out: Path, stem: str) -> list[str]:
    """Training curves (when the scorer has them) and a PCA map of its movie embeddings.

    matplotlib is an optional extra (`pip install movierec[plots]`): without it the
    numbers are still written and the plots are skipped with a note.
    """
    try:
        import matplotlib
    except ImportError:
        log.warning("matplotlib is not installed: skipping plots (pip install 'movierec[plots]')")
        return []

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    all_curves: dict[str, list[float]] = getattr(scorer, "curves", None) or {}
    curves = {name: values for name, values in all_curves.items() if name != "val_epoch" and values}
    if curves:
        fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.5), squeeze=False)
        for ax, (name, values) in zip(axes[0], curves.items(), strict=True):
            xs = all_curves.get("val_epoch") if name.startswith("val_") else None
            if not xs or len(xs) != len(values):
                xs = list(range(1, len(values) + 1))
            ax.plot(xs, values, marker="o", markersize=3)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.grid(alpha=0.3)
        fig.suptitle(f"{dataset.name}: {stem.rsplit('_', 1)[-1]} training")
        fig.tight_layout()
        written.append(_save_fig(fig, out / f"{stem}_curves.png"))
        plt.close(fig)

    emb = np.asarray(scorer.movie_embeddings)
    if emb.ndim == 2 and emb.shape[0] >= 2:
        xy = pca_2d(emb)
        first = [gs[0] if len(gs) else "(none)" for gs in dataset.movies["genres"]]
        labels = [g for g in (*GENRES, "(none)") if g in set(first)]
        cmap = plt.get_cmap("tab20")
        fig, ax = plt.subplots(figsize=(8, 6.5))
        first_arr = np.array(first, dtype=object)
        for i, g in enumerate(labels):
            sel = first_arr == g
            ax.scatter(xy[sel, 0], xy[sel, 1], s=4, alpha=0.6, color=cmap(i % 20), label=g)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        method = stem.rsplit("_", 1)[-1]
        ax.set_title(f"{dataset.name}: movie embeddings ({method}), by first genre")
        ax.legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        written.append(_save_fig(fig, out / f"{stem}_embeddings.png"))
        plt.close(fig)
    return written


def _save_fig(fig: Figure, path: Path) -> str:
    _atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    return path.name


def format_table(result: dict[str, Any]) -> str:
    """The metrics table, then the model's paired intervals against every other method."""
    k = result["config"]["k"]
    cols = [f"ndcg@{k}", f"recall@{k}", f"hr@{k}", f"coverage@{k}", "rmse"]
    header = ["protocol", "model", *cols, "users", "fit s", f"ndcg@{k} per seed"]
    rows = []
    fitted: set[tuple[str, str]] = set()
    for protocol, methods in result["metrics"].items():
        base = "W" if protocol == "W" else "C"
        for method, m in methods.items():
            cells = [f"{m[c]:.4f}" if m.get(c) is not None else "-" for c in cols]
            timing = result["timings"].get(base, {}).get(method)
            fit = "-"
            if timing is not None and (base, method) not in fitted:
                fitted.add((base, method))
                fit = f"{timing['fit_s']:.1f}"
            seeds = m.get("per_seed", {}).get(f"ndcg@{k}")
            per_seed = " / ".join(f"{v:.4f}" for v in seeds) if seeds else ""
            rows.append([protocol, method, *cells, str(m["users"]), fit, per_seed])
    lines = _aligned(header, rows)
    intervals = result.get("intervals", {})
    if intervals:
        seeds = ", ".join(str(s) for s in result.get("training_seeds", []))
        lines += [
            "",
            f"model minus each method (model: mean over training seeds {seeds}); paired "
            "bootstrap 95% interval over users, 2,000 resamples",
        ]
        header = ["protocol", "vs", f"ndcg@{k}", f"recall@{k}"]
        rows = [
            [protocol, other, *(_interval(d[f"{m}@{k}"]) for m in ("ndcg", "recall"))]
            for protocol, by_other in intervals.items()
            for other, d in by_other.items()
        ]
        lines += _aligned(header, rows)
    return "\n".join(lines)


def _interval(d: dict[str, float | None]) -> str:
    if d["diff"] is None or d["low"] is None or d["high"] is None or not math.isfinite(d["diff"]):
        return "-"
    return f"{d['diff']:+.4f} ({d['low']:+.4f}, {d['high']:+.4f})"


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return lines
