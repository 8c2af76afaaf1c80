"""What the issue-13 bench scripts share: where datasets are, and writing a report as JSON and
Markdown side by side."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

from recsys.evaluation.report import write_json  # noqa: E402


def dataset_path(name: str) -> Path:
    """A dataset by name under ../shared/data (never copied into the project), or a path."""
    path = Path(name) if Path(name).exists() else SHARED / name
    if not path.exists():
        raise SystemExit(f"no dataset at {path}; give a path or put it under {SHARED}")
    return path


def command_line() -> str:
    """The command as run, for the report."""
    return " ".join([".venv/bin/python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])


def write_report(out: Path, report: dict[str, Any], text: str) -> None:
    """<out>.json and <out>.md; the Markdown is printed too."""
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out.with_suffix(".json"), report)
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
