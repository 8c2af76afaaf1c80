"""The `movierec` console script: the library's commands plus `serve` and `claude-config`."""

from __future__ import annotations

import argparse
import os
import sys

# These run without the library's training and evaluation commands, whose
# parsers import torch: serving answers with numpy (recsys.tower), and not
# importing torch takes about 1.5 s off the server's start-up.
SERVER_ONLY = ("serve", "claude-config")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    from server import commands

    if argv and argv[0] in SERVER_ONLY:
        parser = argparse.ArgumentParser(
            prog="movierec",
            description="Movie recommendations from a two-tower model, for LLM assistants (MCP).",
        )
    else:
        from recsys.cli import build_parser as library_parser

        parser = library_parser()
    commands.add_parsers(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from server import commands

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve" and "numpy" not in sys.modules:
        # Serving runs tiny matrix products one request at a time; BLAS worker
        # threads would only spin against the event loop on a small machine.
        # Read by OpenBLAS when numpy loads, so it must be set before that.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = build_parser(argv).parse_args(argv)
    if getattr(args, "func", None) is None:
        return commands.default(args)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
