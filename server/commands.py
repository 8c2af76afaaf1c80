"""What `movierec serve` and `movierec claude-config` do (their flags are parsed in server.cli).

`serve` binds its HTTP port (when serving HTTP), opens the profile store,
loads the model bundle once and then serves MCP over stdio (default) or
streamable HTTP. Whatever stops start-up is one line on stderr and an exit
status per kind of cause (`server.errors`: 2 the bundle, 64 a flag, token or
address, 69 the port, 74 the profile store), never a traceback.
`claude-config` prints the entry for Claude Desktop's config file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from recsys.data.paths import default_model_path
from recsys.profiles import PROFILES_ENV
from server.auth import TOKEN_ENV
from server.errors import EXIT_PROFILES, EXIT_USAGE, StartupError
from server.limits import Limits

if TYPE_CHECKING:
    from recsys.profiles import ProfileStore
    from recsys.serving.recommender import Recommender

__all__ = [
    "MODEL_ENV",
    "PROFILES_ENV",
    "TOKEN_ENV",
    "ServeConfig",
    "claude_config",
    "model_dir",
    "serve",
]

MODEL_ENV = "MOVIEREC_MODEL"
log = logging.getLogger("movierec.server")


def model_dir(given: str | None) -> Path:
    """--model, else $MOVIEREC_MODEL, else the shipped bundle; absolute."""
    chosen = given or os.environ.get(MODEL_ENV) or default_model_path()
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class ServeConfig:
    model: Path
    transport: str  # "stdio" | "http"
    host: str
    port: int
    tokens: tuple[str, ...]  # bearer tokens accepted over HTTP; none: loopback only
    limits: Limits = Limits()
    stdio: str = "own"  # "own" (server.stdio) | "sdk" (the SDK's threaded streams, to compare)
    profiles: str | None = None  # the profile store's path or URL; None: the default place
    # Credential key (server.fairness.token_key) -> profile namespace; empty: one namespace.
    namespaces: Mapping[str, str] = field(default_factory=dict)


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
    from recsys.bundle.manifest import BundleError
    from recsys.serving.recommender import Recommender

    try:
        return Recommender.load(model)
    except BundleError as exc:  # its message already says what to run
        raise StartupError(f"cannot load the model bundle: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise StartupError(f"cannot load the model bundle at {model}: {exc}. {hint}") from exc
    except Exception as exc:  # a corrupt file can fail in numpy or annoy
        log.debug("bundle load failed", exc_info=True)
        raise StartupError(
            f"cannot load the model bundle at {model} ({type(exc).__name__}: {exc}). {hint}"
        ) from exc


def open_profiles(location: str | None) -> ProfileStore:
    """Open (create or migrate) the profile store; every way this can fail is a StartupError."""
    from recsys.profiles import ProfileError, StoreError, open_store

    try:
        store = open_store(location)
    except StoreError as exc:
        raise StartupError(f"cannot open the profile store: {exc}", EXIT_PROFILES) from exc
    except ProfileError as exc:  # the location itself is malformed: a flag to fix
        raise StartupError(f"--profiles: {exc}", EXIT_USAGE) from exc
    except OSError as exc:
        raise StartupError(f"cannot open the profile store: {exc}", EXIT_PROFILES) from exc
    log.info("profiles in %s", store.location)
    return store


def warm_up(recommender: Recommender) -> None:
    """One throwaway query, so the first caller does not pay for first-call costs."""
    try:
        recommender.for_preferences(recommender.genres[:1], k=1)
    except Exception:  # a failed warm-up only costs the first caller some time
        log.warning("warm-up query failed; serving anyway", exc_info=True)


def serve(config: ServeConfig) -> int:
    started = time.perf_counter()
    sock = None
    store = None
    try:
        if config.transport == "http":
            from server.auth import check_bind
            from server.transports import bind_socket

            check_bind(config.host, config.tokens[0] if config.tokens else None)
            sock = bind_socket(config.host, config.port)
        store = open_profiles(config.profiles)
        recommender = load(config.model)
        from server.app import build_server

        mcp = build_server(recommender, config.limits, store, config.namespaces)
    except StartupError as exc:
        if sock is not None:
            sock.close()
        if store is not None:
            store.close()
        print(f"movierec serve: {exc}", file=sys.stderr)
        return exc.exit_code
    warm_up(recommender)
    log.info("loaded %s in %.2f s", config.model, time.perf_counter() - started)

    from server import transports

    try:
        if sock is not None:
            transports.run_http(mcp, sock, config.host, config.tokens, config.limits)
        else:
            transports.run_stdio(mcp, config.stdio)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0


def claude_config(model: Path, name: str) -> int:
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
            name: {"command": command, "args": [*argv, "--model", str(model)], "env": {}}
        }
    }
    print(json.dumps(entry, indent=2))
    print(
        "Merge this into claude_desktop_config.json (macOS: ~/Library/Application Support/"
        "Claude/, Windows: %APPDATA%\\Claude\\, Linux: ~/.config/Claude/) and restart Claude.",
        file=sys.stderr,
    )
    return 0
