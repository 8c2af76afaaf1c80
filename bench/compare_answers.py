"""Ask every tool a fixed set of requests at two git revisions and show whether the answers match.

    .venv/bin/python bench/compare_answers.py --before HEAD~3 --after WORKTREE
    .venv/bin/python bench/compare_answers.py --before main --after HEAD --out FILE.md

For a change meant to keep behaviour (a refactor, a faster path): each
revision is checked out into a temporary git worktree (WORKTREE means this
checkout as it is on disk), its own `server` package is started over MCP stdio
with this interpreter, serving that revision's own shipped bundle
(`models/default`, or --model), and asked the same requests (REQUESTS: every
tool, with filters, titles, aliases and mistakes, plus tools/list and the
resources). The bare JSON-RPC lines are compared: tool results whole
(structuredContent, text, isError), tools/list whole, resources without the
fields a retrain changes (created_at, timings). Exit status 0 when everything
matches, 1 otherwise; the differences are printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORKTREE = "WORKTREE"
PROTOCOL_VERSION = "2025-06-18"

Request = tuple[str, dict[str, Any]]

# Each (tool, arguments) is asked at both revisions; mistakes are included on purpose.
REQUESTS: list[Request] = [
    ("recommend_for_user", {"user_id": 1}),
    ("recommend_for_user", {"user_id": 2, "k": 5}),
    ("recommend_for_user", {"user_id": 414, "k": 20}),
    ("recommend_for_user", {"user_id": 610, "k": 3, "genres": ["comedy"]}),
    ("recommend_for_user", {"user_id": 7, "exclude_genres": ["drama", "comedy"], "k": 8}),
    ("recommend_for_user", {"user_id": 42, "year_min": 2000, "year_max": 2010}),
    ("recommend_for_user", {"user_id": 100, "exclude_seen": False, "k": 5}),
    ("recommend_for_user", {"user_id": 15, "genres": ["western"], "year_max": 1970}),
    ("recommend_for_user", {"user_id": 99999}),
    ("recommend_for_user", {"user_id": 1, "k": 0}),
    ("recommend_for_user", {"user_id": 1, "k": 101}),
    ("recommend_for_user", {"user_id": 1, "year_min": 2010, "year_max": 2000}),
    ("recommend_for_user", {"user_id": 1, "genre": ["comedy"]}),
    ("recommend_for_user", {"user_id": "one"}),
    ("recommend_for_preferences", {"genres": ["sci-fi", "thriller"]}),
    ("recommend_for_preferences", {"genres": ["comedy"], "k": 5}),
    ("recommend_for_preferences", {"genres": ["western", "film-noir"], "age": 68}),
    ("recommend_for_preferences", {"genres": ["animation"], "age": 7}),
    ("recommend_for_preferences", {"genres": ["musical"]}),
    ("recommend_for_preferences", {"genres": ["documentary"], "k": 3}),
    ("recommend_for_preferences", {"genres": ["sci fi"], "liked_movies": ["The Matrix"]}),
    ("recommend_for_preferences", {"genres": ["drama"], "liked_movies": [318, "Heat 1995"]}),
    ("recommend_for_preferences", {"genres": ["kids"], "occupation": "nurse", "gender": "f"}),
    ("recommend_for_preferences", {"genres": "horror, thriller", "k": 4}),
    ("recommend_for_preferences", {"genres": ["romance"], "exclude_genres": ["comedy"]}),
    ("recommend_for_preferences", {"genres": ["war"], "year_min": 1990, "year_max": 2005}),
    ("recommend_for_preferences", {"genres": ["action"], "liked_movies": ["Heat"]}),
    ("recommend_for_preferences", {"genres": ["action"], "liked_movies": ["Zzzqqq Movie"]}),
    ("recommend_for_preferences", {"genres": ["romcomz"]}),
    ("recommend_for_preferences", {"genres": []}),
    ("recommend_for_preferences", {"genres": ["crime"], "age": 0}),
    ("recommend_for_preferences", {"genres": ["imax"], "k": 10}),
    ("recommend_for_preferences", {"genres": ["fantasy"], "liked_movies": ["Amelie"]}),
    ("similar_movies", {"movie": 1}),
    ("similar_movies", {"movie": "Toy Story", "k": 5}),
    ("similar_movies", {"movie": "The Godfather"}),
    ("similar_movies", {"movie": "Heat 1995", "k": 5}),
    ("similar_movies", {"movie": "Blade Runner 2049"}),
    ("similar_movies", {"movie": 2571, "genres": ["action"], "year_min": 2000}),
    ("similar_movies", {"movie": "Paddington 2", "k": 5}),
    ("similar_movies", {"movie": "Heat"}),
    ("similar_movies", {"movie": "No Such Film Anywhere"}),
    ("similar_movies", {"movie": 1, "exclude_genres": ["animation"], "k": 4}),
    ("search_movies", {"query": "star wars"}),
    ("search_movies", {"query": "the matrix", "k": 3}),
    ("search_movies", {"query": "godfather 1972"}),
    ("search_movies", {"query": "amelie"}),
    ("search_movies", {"query": "love", "genres": ["comedy"], "year_min": 1990}),
    ("search_movies", {"query": "star", "year_min": 2100}),
    ("search_movies", {"query": "  "}),
    ("search_movies", {"query": "les miserables"}),
    ("get_movie", {"movie_id": 1}),
    ("get_movie", {"movie_id": 2571}),
    ("get_movie", {"movie_id": 193609}),
    ("get_movie", {"movie_id": 5}),
    ("get_movie", {"movie_id": -1}),
    ("get_movie", {"movie_id": True}),
]
RESOURCES = ("movierec://genres", "movierec://occupations", "movierec://model")
# Model-card fields a retrain by the same command changes without changing any answer.
VOLATILE = {"created_at", "seconds", "bundle_bytes"}


def _strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """A directory holding `revision`'s files: a temporary worktree, or this checkout."""
    if revision == WORKTREE:
        yield REPO
        return
    with tempfile.TemporaryDirectory(prefix="movierec-answers-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), revision],
            check=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False
            )


def _launcher(tree: Path) -> str:
    # The revision's own packages first on the path, whatever this interpreter has installed.
    return (
        f"import sys; sys.path.insert(0, {str(tree)!r}); "
        "from server.cli import main; sys.exit(main(['serve', *sys.argv[1:]]))"
    )


class Wire:
    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.next_id = 0

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.next_id += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"server exited ({self.proc.poll()}) during {method}")
            answer = json.loads(line)
            if answer.get("id") == self.next_id:
                return answer

    def notify(self, method: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": method}).encode() + b"\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def collect(tree: Path, model: Path | None) -> dict[str, Any]:
    bundle = model or tree / "models" / "default"
    wire = Wire([sys.executable, "-c", _launcher(tree), "--model", str(bundle)])
    try:
        hello = wire.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "compare-answers", "version": "0"},
            },
        )
        if "result" not in hello:
            raise RuntimeError(f"initialize failed: {hello}")
        wire.notify("notifications/initialized")
        out: dict[str, Any] = {"tools/list": wire.request("tools/list").get("result")}
        for uri in RESOURCES:
            answer = wire.request("resources/read", {"uri": uri})
            contents = (answer.get("result") or {}).get("contents") or [{}]
            text = contents[0].get("text", "")
            try:
                parsed: Any = _strip_volatile(json.loads(text))
            except ValueError:
                parsed = text
            out[uri] = parsed if "result" in answer else answer.get("error")
        for n, (tool, arguments) in enumerate(REQUESTS):
            answer = wire.request("tools/call", {"name": tool, "arguments": arguments})
            out[f"{n:02d} {tool} {json.dumps(arguments, sort_keys=True)}"] = answer.get(
                "result", answer.get("error")
            )
        return out
    finally:
        wire.close()


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a != b:
            lines.append(
                f"DIFFERS {key}\n  before: {json.dumps(a)[:600]}\n  after:  {json.dumps(b)[:600]}"
            )
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help=f"git revision, or {WORKTREE}")
    p.add_argument("--after", default=WORKTREE, help=f"git revision, or {WORKTREE} (default)")
    p.add_argument(
        "--model", type=Path, default=None, help="one bundle for both (default: each's own)"
    )
    p.add_argument("--out", type=Path, default=None, help="append a short report here (Markdown)")
    p.add_argument("--dump", type=Path, default=None, help="write both answer sets here (JSON)")
    args = p.parse_args()
    answers = {}
    for side, rev in (("before", args.before), ("after", args.after)):
        with checkout(rev) as tree:
            answers[side] = collect(tree, args.model)
    diff = differences(answers["before"], answers["after"])
    n_tools = len(REQUESTS)
    summary = (
        f"{args.before} vs {args.after}: {n_tools} tool calls, tools/list and "
        f"{len(RESOURCES)} resources; {len(diff)} differ"
    )
    print("\n".join(diff))
    print(summary)
    if args.dump:
        args.dump.write_text(json.dumps(answers, indent=1) + "\n", encoding="utf-8")
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write(f"- {summary}\n")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
