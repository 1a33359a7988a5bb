"""`zomg` command line: one dispatcher, one module per subcommand.

Each subcommand module defines ``register(subparsers)`` which adds its parser and
sets ``func=run`` (``run(args) -> int``). Errors the user can fix are raised as
``ZomgError`` and printed as one line with exit status 2; anything unexpected is
one line with exit status 1 (set ZOMG_DEBUG=1 for the traceback).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..engine.errors import ZomgError

SUBCOMMANDS = ("split", "score", "ground", "batch", "train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zomg", description="Split mocap takes into named clips from a description (ZOMG).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:  # a subcommand not built yet, or a missing optional package
            if exc.name and exc.name.endswith(f"cli.{name}"):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except ZomgError as exc:
        print(f"zomg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zomg: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # argparse usage errors and --help
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        if os.environ.get("ZOMG_DEBUG"):
            raise
        print(f"zomg: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def entry() -> None:
    sys.exit(main())
