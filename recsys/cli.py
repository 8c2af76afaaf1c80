"""The library's command-line commands: `data`, `train`, `evaluate`.

Each command module owns its flags (`add_arguments`) and its entry point
(`main(args) -> int`); this module only wires them into one parser. The
`server` package adds `serve` and `claude-config` on top (see server/cli.py).
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    from recsys import datacli, evaluate, train

    parser = argparse.ArgumentParser(
        prog="movierec",
        description="Movie recommendations from a two-tower model, for LLM assistants (MCP).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    datacli.add_parser(sub)
    train.add_parser(sub)
    evaluate.add_parser(sub)
    return parser
