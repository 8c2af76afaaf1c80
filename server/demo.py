"""The main job's demo: `movierec serve` under a real MCP client, one call of each tool.

    .venv/bin/python -m server.demo [--model DIR]

Starts the server over stdio exactly as an assistant (Claude Desktop, an
agent) would, lists its tools and resources, reads the model card, calls
the recommendation tools once, rates movies into a profile (in a temporary
store), recommends from it and forgets it, shows one bad call answered as a
tool error, and prints each answer's readable text. Exits non-zero if any
step fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import TextResourceContents

from server.commands import MODEL_ENV, model_dir

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("recommend_for_user", {"user_id": 1, "k": 5}),
    (
        "recommend_for_preferences",
        {
            "genres": ["sci-fi", "thriller"],
            "age": 34,
            "occupation": "software engineer",
            "liked_movies": ["The Matrix"],
            "k": 5,
        },
    ),
    ("similar_movies", {"movie": "Toy Story", "k": 5, "year_min": 1990}),
    ("search_movies", {"query": "star wars", "k": 5}),
    ("get_movie", {"movie_id": 1}),
    # A person's profile (kept in a temporary store): rate, recommend from it, forget it.
    (
        "rate_movies",
        {
            "profile": "demo",
            "ratings": [
                {"movie": "Heat 1995", "rating": 5},
                {"movie": "The Matrix", "rating": "liked"},
                {"movie": "Titanic 1997", "rating": "disliked"},
            ],
            "seen": ["Toy Story"],
        },
    ),
    ("recommend_for_user", {"profile": "demo", "k": 5}),
    ("forget", {"profile": "demo"}),
    # A mistake an LLM might make: the server answers with a tool error it can act on.
    ("recommend_for_preferences", {"genres": ["scifi", "romcomz"], "k": 5}),
]


def server_params(model: Path, profiles: Path) -> StdioServerParameters:
    script = Path(sys.executable).parent / "movierec"
    if script.is_file():
        command, args = str(script), ["serve"]
    else:
        command, args = sys.executable, ["-m", "server"]
    flags = ["--model", str(model), "--profiles", str(profiles)]
    return StdioServerParameters(command=command, args=[*args, *flags])


def banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 70 - len(text)))


async def demo(model: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:  # the demo's profiles are not kept
        return await _demo(model, Path(scratch) / "profiles.db")


async def _demo(model: Path, profiles: Path) -> int:
    params = server_params(model, profiles)
    print(f"$ {params.command} {' '.join(params.args)}")
    started = time.perf_counter()
    failures = 0
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        print(f"connected in {time.perf_counter() - started:.1f} s")
        banner("tools")
        for tool in tools:
            hints = tool.annotations
            flags = "read-only" if hints and hints.read_only_hint else "writes"
            args = ", ".join(tool.input_schema.get("properties", {}))
            print(f"- {tool.name}({args})  [{flags}]")
        banner("resource movierec://model")
        contents = (await client.read_resource("movierec://model")).contents[0]
        if not isinstance(contents, TextResourceContents):
            raise RuntimeError("movierec://model did not answer text; expected the JSON card")
        card = json.loads(contents.text)
        shown = ("dataset", "created_at", "n_movies", "n_users", "has_demographics")
        for key in shown:
            print(f"{key}: {card.get(key)}")
        if card.get("evaluation"):
            print("evaluation:", json.dumps(card["evaluation"])[:300])
        for name, arguments in CALLS:
            banner(f"{name}({json.dumps(arguments)})")
            t0 = time.perf_counter()
            result = await client.call_tool(name, arguments)
            ms = (time.perf_counter() - t0) * 1000
            text = "\n".join(getattr(block, "text", "") for block in result.content)
            print(text)
            expected_error = name == CALLS[-1][0] and arguments == CALLS[-1][1]
            print(f"[{'tool error' if result.is_error else 'ok'}, {ms:.1f} ms]")
            if result.is_error != expected_error:
                failures += 1
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.demo", description=__doc__)
    parser.add_argument("--model", default=None, help=f"bundle (default: ${MODEL_ENV} or shipped)")
    args = parser.parse_args(argv)
    model = model_dir(args.model)
    if not model.is_dir():
        print(
            f"no model bundle at {model}; build it with `make model` "
            f"(movierec train --dataset default --out {model})",
            file=sys.stderr,
        )
        return 2
    return anyio.run(demo, model)


if __name__ == "__main__":
    sys.exit(main())
