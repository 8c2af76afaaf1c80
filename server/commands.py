"""The `serve` and `claude-config` commands, added to the library's `movierec` parser.

`movierec serve` loads the model bundle once (a missing or broken bundle stops
start-up with a message saying what to run, exit status 2, no traceback) and
then serves MCP over stdio (default) or streamable HTTP. `movierec
claude-config` prints the entry for Claude Desktop's config file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import recsys
from server.auth import TOKEN_ENV
from server.errors import StartupError

if TYPE_CHECKING:  # imported lazily at run time: it pulls in torch
    from recsys.recommender import Recommender

MODEL_ENV = "MOVIEREC_MODEL"
DEFAULT_MODEL = Path(recsys.__file__).resolve().parents[1] / "models" / "default"
log = logging.getLogger("movierec.server")


def default_model() -> Path:
    return Path(os.environ.get(MODEL_ENV) or DEFAULT_MODEL)


@dataclass(frozen=True)
class ServeConfig:
    model: Path
    transport: str  # "stdio" | "http"
    host: str
    port: int
    token: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeConfig:
        return cls(
            model=Path(args.model or default_model()).expanduser().resolve(),
            transport=args.transport,
            host=args.host,
            port=args.port,
            token=os.environ.get(TOKEN_ENV) or None,
        )


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help=f"model bundle directory (default: ${MODEL_ENV}, else {DEFAULT_MODEL})",
    )
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="command", metavar="COMMAND")


def add_parsers(parser: argparse.ArgumentParser) -> None:
    sub = _subparsers(parser)
    serve_p = sub.add_parser(
        "serve",
        help="run the MCP server (stdio by default)",
        description="Serve movie recommendations to MCP clients. stdout carries the protocol "
        f"over stdio; logs go to stderr. Over HTTP, set {TOKEN_ENV} to require "
        "'Authorization: Bearer <token>' (mandatory for a non-loopback --host).",
    )
    add_serve_arguments(serve_p)
    serve_p.set_defaults(func=serve)

    config_p = sub.add_parser(
        "claude-config",
        help="print the Claude Desktop config entry for this install",
        description="Print the mcpServers entry for claude_desktop_config.json, with this "
        "install's absolute paths.",
    )
    config_p.add_argument("--model", default=None, help="model bundle directory to serve")
    config_p.add_argument("--name", default="movierec", help="server name in the config")
    config_p.set_defaults(func=claude_config)


def default(args: argparse.Namespace) -> int:
    print(
        "movierec - movie recommendations for LLM assistants (MCP)\n"
        "\n"
        "  movierec serve            run the MCP server over stdio (--transport http for HTTP)\n"
        "  movierec claude-config    print the Claude Desktop config entry\n"
        "  movierec data             download MovieLens datasets and show what they hold\n"
        "  movierec train            train a model and write a bundle\n"
        "  movierec evaluate         measure the model and the baselines\n"
        "\n"
        "Run `movierec COMMAND --help` for a command's options."
    )
    return 0


def configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="movierec %(levelname)s %(message)s"
    )
    # The SDK logs every request at INFO; keep stderr to what a person needs.
    logging.getLogger("mcp").setLevel(logging.WARNING)


def load(model: Path) -> Recommender:
    """Load and verify the bundle; every way this can fail becomes a StartupError."""
    hint = (
        "Point --model (or MOVIEREC_MODEL) at a model bundle, or build one with "
        f"`movierec train --dataset default --out {model}`."
    )
    if not model.is_dir():
        raise StartupError(f"no model bundle at {model}. {hint}")
    from recsys.bundle import BundleError
    from recsys.recommender import Recommender

    try:
        return Recommender.load(model)
    except BundleError as exc:  # its message already says what to run
        raise StartupError(f"cannot load the model bundle: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise StartupError(f"cannot load the model bundle at {model}: {exc}. {hint}") from exc
    except Exception as exc:  # a corrupt file can fail in numpy, torch or annoy
        log.debug("bundle load failed", exc_info=True)
        raise StartupError(
            f"cannot load the model bundle at {model} ({type(exc).__name__}: {exc}). {hint}"
        ) from exc


def warm_up(recommender: Recommender) -> None:
    """One throwaway query, so the first caller does not pay for first-call costs."""
    try:
        recommender.for_preferences(recommender.genres[:1], k=1)
    except Exception:  # a failed warm-up only costs the first caller some time
        log.warning("warm-up query failed; serving anyway", exc_info=True)


def serve(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    config = ServeConfig.from_args(args)
    configure_logging()
    try:
        if config.transport == "http":
            from server.auth import check_bind

            check_bind(config.host, config.token)
        recommender = load(config.model)
        from server.app import build_server

        mcp = build_server(recommender)
    except StartupError as exc:
        print(f"movierec serve: {exc}", file=sys.stderr)
        return 2
    warm_up(recommender)
    log.info("loaded %s in %.2f s", config.model, time.perf_counter() - started)

    from server import transports

    try:
        if config.transport == "http":
            transports.run_http(mcp, config.host, config.port, config.token)
        else:
            transports.run_stdio(mcp)
    except KeyboardInterrupt:
        pass
    return 0


def claude_config(args: argparse.Namespace) -> int:
    model = Path(args.model).expanduser().resolve() if args.model else default_model().resolve()
    if not model.is_dir():
        print(
            f"movierec claude-config: warning: no model bundle at {model} yet; "
            f"build it with `movierec train --dataset default --out {model}`",
            file=sys.stderr,
        )
    script = Path(sys.executable).parent / "movierec"
    if script.is_file():
        command, argv = str(script), ["serve"]
    else:
        command, argv = sys.executable, ["-m", "server"]
    # Everything the server needs is in the arguments; env is there to be extended
    # (Claude Desktop starts servers with a minimal environment).
    entry = {
        "mcpServers": {
            args.name: {"command": command, "args": [*argv, "--model", str(model)], "env": {}}
        }
    }
    print(json.dumps(entry, indent=2))
    print(
        "Merge this into claude_desktop_config.json (macOS: ~/Library/Application Support/"
        "Claude/, Windows: %APPDATA%\\Claude\\, Linux: ~/.config/Claude/) and restart Claude.",
        file=sys.stderr,
    )
    return 0
