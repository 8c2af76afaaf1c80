"""The `movierec` command line: every command's flags, parsed here and only here.

Each handler turns its flags into the command's config object, sets the
process-wide state that command needs (logging, torch threads, BLAS threads),
and calls the library (`recsys.commands`) or the server (`server.commands`).
Nothing here imports torch until a command that trains runs, so serving and
`movierec data` work from a serve-only install.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from recsys.data import download
from recsys.data.paths import default_model_path
from recsys.evaluation.methods import ALL_METHODS, DEFAULT_OUT, PROTOCOLS
from recsys.training.config import TrainConfig

Handler = Callable[[argparse.Namespace], int]
DESCRIPTION = "Movie recommendations from a two-tower model, for LLM assistants (MCP)."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="movierec", description=DESCRIPTION)
    parser.set_defaults(func=_overview)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_data(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_serve(sub)
    _add_claude_config(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"] and "numpy" not in sys.modules:
        # Serving runs tiny matrix products one request at a time; BLAS worker
        # threads would only spin against the event loop on a small machine.
        # Read by OpenBLAS when numpy loads, so it must be set before that.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = build_parser().parse_args(args_list)
    handler: Handler = args.func
    return int(handler(args) or 0)


def _overview(args: argparse.Namespace) -> int:
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


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")


# --------------------------------------------------------------------------- data


def _add_data(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "data",
        help="download MovieLens datasets and show what they hold",
        description=(
            "Download MovieLens datasets into the cache "
            f"(${download.CACHE_ENV}, else $XDG_CACHE_HOME/movierec or ~/.cache/movierec) "
            "and summarise them."
        ),
    )

    def missing(args: argparse.Namespace) -> int:
        parser.print_usage(sys.stderr)
        print("movierec data: error: choose an action: download, list or info", file=sys.stderr)
        return 2

    parser.set_defaults(func=missing)
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    p = actions.add_parser(
        "download",
        help="download, verify and unpack a dataset",
        description="Download a MovieLens zip from GroupLens, check its md5 and unpack it "
        "into the cache. An already cached dataset is not downloaded again.",
    )
    p.add_argument("name", metavar="NAME", help=f"one of: {', '.join(download.known_names())}")
    _add_cache_dir(p)
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.add_argument(
        "--base-url",
        metavar="URL",
        help=f"where the zips live (default ${download.BASE_URL_ENV}, else "
        f"{download.DEFAULT_BASE_URL})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_data_download)
    p = actions.add_parser(
        "list",
        help="list known datasets and which are cached",
        description="List the known datasets, their download size, and where a copy is.",
    )
    _add_cache_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_data_list)
    p = actions.add_parser(
        "info",
        help="count users, movies and ratings of a dataset",
        description="Load a dataset and print its counts.",
    )
    p.add_argument(
        "dataset",
        metavar="NAME|PATH",
        help="'default' (the embedded ml-latest-small), a known dataset name, or a folder",
    )
    _add_cache_dir(p)
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail on ratings of unknown users or movies instead of dropping them",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_data_info)


def _add_cache_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        type=Path,
        help=f"dataset cache (default ${download.CACHE_ENV}, else $XDG_CACHE_HOME/movierec "
        "or ~/.cache/movierec)",
    )


def _cache_dir(args: argparse.Namespace) -> Path:
    return Path(args.cache_dir) if args.cache_dir is not None else download.default_cache_dir()


def _data_download(args: argparse.Namespace) -> int:
    from recsys.commands.data import DownloadConfig, run_download

    config = DownloadConfig(
        name=args.name,
        cache_dir=_cache_dir(args),
        base_url=args.base_url,
        force=args.force,
        progress=not args.no_progress,
    )
    return run_download(config)


def _data_list(args: argparse.Namespace) -> int:
    from recsys.commands.data import ListConfig, run_list

    return run_list(ListConfig(cache_dir=_cache_dir(args), as_json=args.json))


def _data_info(args: argparse.Namespace) -> int:
    from recsys.commands.data import InfoConfig, run_info

    config = InfoConfig(
        dataset=args.dataset, cache_dir=_cache_dir(args), strict=args.strict, as_json=args.json
    )
    return run_info(config)


# --------------------------------------------------------------------------- train, evaluate


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    p.add_argument("--dataset", default="default", help="dataset name or directory")
    p.add_argument(
        "--epochs", type=int, default=None, help=f"epoch bound (default {defaults.loop.epochs})"
    )
    p.add_argument("--seed", type=int, default=0, help="training (and split) seed (default 0)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any training setting, e.g. --set dim=64 --set item_rank=0 --set loop.lr=0.001 "
        "(repeatable; names in recsys/training/config.py)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads for training (default 2)")


def _train_config(args: argparse.Namespace, command: str) -> TrainConfig | None:
    settings: dict[str, str] = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"movierec {command}: --set expects NAME=VALUE, got {item!r}", file=sys.stderr)
            return None
        settings[name] = value
    if args.epochs is not None:
        settings["loop.epochs"] = str(args.epochs)
    settings["seed"] = str(args.seed)
    try:
        config = TrainConfig().with_settings(settings)
        config.check()
    except ValueError as exc:
        print(f"movierec {command}: {exc}", file=sys.stderr)
        return None
    return config


def _prepare_training(threads: int) -> None:
    from recsys.training import process

    _log_to_stderr()
    process.configure(threads)


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train a two-tower model and write a model bundle",
        description="Train the two-tower model on a dataset and write a bundle "
        "(weights, embeddings, Annoy index, manifest) to --out.",
    )
    _add_training_flags(p)
    p.add_argument("--out", required=True, type=Path, help="bundle directory to write")
    p.add_argument(
        "--evaluation",
        type=Path,
        default=None,
        help="a `movierec evaluate` JSON report whose numbers go into the bundle's model card",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    config = _train_config(args, "train")
    if config is None:
        return 2
    _prepare_training(args.threads)
    from recsys.commands.train import TrainCommand, run

    command = TrainCommand(
        dataset=args.dataset,
        out=args.out,
        train=config,
        evaluation=args.evaluation,
        progress=not args.no_progress,
    )
    return run(command)


def _add_evaluate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure the model and the baselines under protocols W, C and F",
        description="Fit the two-tower model and the baselines on the same splits of a dataset "
        "(W: last 20% of each user's ratings; C: 20% of users held out, described by "
        "demographics and 3 stated genres; F: C's users with 6+ likes who also name their "
        "1, 3 or 5 earliest likes, and F-tail, scored on likes outside the 100 most-liked), "
        "print NDCG/Recall/HR/coverage@10 with the model's paired bootstrap intervals against "
        "each baseline, and write <out>/<dataset>.json plus plots.",
    )
    _add_training_flags(p)
    p.add_argument(
        "--protocols",
        default=",".join(PROTOCOLS),
        help=f"comma-separated: W, C, F (default {','.join(PROTOCOLS)})",
    )
    p.add_argument(
        "--seeds",
        default=None,
        help="train the model once per seed, e.g. 0,1,2, and report per-user means over them "
        "(the splits keep --seed); default: --seed alone",
    )
    p.add_argument(
        "--models",
        default=",".join(ALL_METHODS),
        help=f"comma-separated subset of: {', '.join(ALL_METHODS)} (default all)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"(default {DEFAULT_OUT})")
    p.add_argument("--naive-epochs", type=int, default=5, help="naive two-tower epochs (5)")
    p.add_argument("--ease-lambda", type=float, default=None, help="fix EASE's λ (default: tuned)")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the plots")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_evaluate)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _seeds(text: str | None) -> tuple[int, ...]:
    if text is None:
        return ()
    items = _csv(text)
    if not items or not all(x.isdigit() for x in items):
        raise ValueError(
            f"--seeds takes whole numbers separated by commas, e.g. 0,1,2; got {text!r}"
        )
    return tuple(int(x) for x in items)


def _evaluate(args: argparse.Namespace) -> int:
    config = _train_config(args, "evaluate")
    if config is None:
        return 2
    _prepare_training(args.threads)
    from recsys.commands.evaluate import EvaluateCommand, run
    from recsys.evaluation.runner import EvalConfig

    try:
        seeds = _seeds(args.seeds)
        eval_config = EvalConfig(
            protocols=tuple(p.upper() for p in _csv(args.protocols)),
            methods=_csv(args.models),
            seed=args.seed,
            seeds=seeds,
            train=config,
            naive_epochs=args.naive_epochs,
            ease_lambda=args.ease_lambda,
            out=args.out,
            plots=args.plots,
            progress=not args.quiet,
            command=shlex.join(["movierec", *sys.argv[1:]]) if sys.argv else "",
        )
    except ValueError as exc:
        print(f"movierec evaluate: {exc}", file=sys.stderr)
        return 2
    return run(EvaluateCommand(dataset=args.dataset, config=eval_config))


# --------------------------------------------------------------------------- serve, claude-config


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from recsys.profiles import PROFILES_ENV, default_location
    from server.auth import MIN_TOKEN_CHARS, TOKEN_FILE_ENV, TOKENS_ENV
    from server.commands import MODEL_ENV, TOKEN_ENV
    from server.limits import LIMITS_ENV, limit_names

    p = sub.add_parser(
        "serve",
        help="run the MCP server (stdio by default)",
        description="Serve movie recommendations to MCP clients. stdout carries the protocol "
        f"over stdio; logs go to stderr. Over HTTP, set {TOKEN_ENV} (or --token-file) to "
        "require 'Authorization: Bearer <token>' (mandatory for a non-loopback --host); a "
        f"token has at least {MIN_TOKEN_CHARS} printable characters.",
    )
    p.add_argument(
        "--model",
        default=None,
        help=f"model bundle directory (default: ${MODEL_ENV}, else {default_model_path()})",
    )
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    # A string, checked in _serve, so a bad port is one line (argparse would add its usage).
    p.add_argument("--port", default="8000", help="HTTP port, 1-65535 (default 8000)")
    p.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help=f"HTTP bearer tokens, one per line, one per client (default ${TOKEN_FILE_ENV}, "
        f"also ${TOKENS_ENV}); a line 'TOKEN NAMESPACE' gives that client its own profiles; "
        f"with {TOKEN_ENV}, both are accepted",
    )
    p.add_argument(
        "--profiles",
        default=None,
        metavar="PATH|URL",
        help=f"where personal profiles are kept: a SQLite file, or postgresql://... for "
        f"several servers (default ${PROFILES_ENV}, else {default_location()})",
    )
    p.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"change one of the server's limits (repeatable; also ${LIMITS_ENV} as "
        f"NAME=VALUE,...): {', '.join(limit_names())}; see server/limits.py",
    )
    p.add_argument(
        "--stdio-streams",
        choices=("own", "sdk"),
        default=os.environ.get("MOVIEREC_STDIO", "own"),
        help="stdio through movierec's streams (default) or the SDK's threaded ones, to "
        "compare (bench/bench_server.py); default $MOVIEREC_STDIO, else own",
    )
    p.set_defaults(func=_serve)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ValueError(f"--port {text} is not a TCP port; choose one from 1 to 65535")
    return port


def _serve(args: argparse.Namespace) -> int:
    from server import commands
    from server.auth import namespaces_by_credential, read_tokens
    from server.errors import EXIT_USAGE, StartupError
    from server.limits import from_env_and_flags

    try:
        port = _port(args.port)
        limits = from_env_and_flags(os.environ, args.limit)
        token_file = _token_file(args.token_file)
        tokens = (
            read_tokens(os.environ.get(commands.TOKEN_ENV), token_file)
            if args.transport == "http"
            else ()
        )
    except ValueError as exc:
        print(f"movierec serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StartupError as exc:
        print(f"movierec serve: {exc}", file=sys.stderr)
        return exc.exit_code
    config = commands.ServeConfig(
        model=commands.model_dir(args.model),
        transport=args.transport,
        host=args.host,
        port=port,
        tokens=tuple(t.secret for t in tokens),
        limits=limits,
        stdio=args.stdio_streams,
        profiles=args.profiles or os.environ.get(commands.PROFILES_ENV) or None,
        namespaces=namespaces_by_credential(tokens),
    )
    commands.configure_logging()
    return commands.serve(config)


def _token_file(flag: Path | None) -> Path | None:
    """--token-file, else $MOVIEREC_TOKEN_FILE or its other name $MOVIEREC_TOKENS (not both)."""
    from server.auth import TOKEN_FILE_ENV, TOKENS_ENV

    if flag is not None:
        return flag
    named = {e: os.environ[e] for e in (TOKEN_FILE_ENV, TOKENS_ENV) if os.environ.get(e)}
    if len(set(named.values())) > 1:
        raise ValueError(
            f"{TOKEN_FILE_ENV} and {TOKENS_ENV} name different token files; set one of them"
        )
    return Path(next(iter(named.values()))) if named else None


def _add_claude_config(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "claude-config",
        help="print the Claude Desktop config entry for this install",
        description="Print the mcpServers entry for claude_desktop_config.json, with this "
        "install's absolute paths.",
    )
    p.add_argument("--model", default=None, help="model bundle directory to serve")
    p.add_argument("--name", default="movierec", help="server name in the config")
    p.set_defaults(func=_claude_config)


def _claude_config(args: argparse.Namespace) -> int:
    from server import commands

    return commands.claude_config(commands.model_dir(args.model), args.name)


if __name__ == "__main__":
    sys.exit(main())
