"""The `movierec` console script: the library's commands plus `serve` and `claude-config`."""

from __future__ import annotations

import sys

from recsys.cli import build_parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    from server import commands

    commands.add_parsers(parser)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        return commands.default(args)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
