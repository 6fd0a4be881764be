"""`heartbench` command line: one module per subcommand under heartbench.commands.

Each command module has `NAME`, `HELP`, `prepare_parser(parser)` and `run(args) -> int`.
User mistakes raise HeartbenchError and become one line on stderr plus a documented exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from heartbench import __version__
from heartbench.errors import EXIT_USAGE, HeartbenchError

COMMANDS = (
    "heartbench.commands.emulator",
    "heartbench.commands.check",
    "heartbench.commands.report",
    "heartbench.commands.gate",
)


def _load_commands():
    modules = []
    for name in COMMANDS:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heartbench",
        description="Does your Lambda heartbeat code leak once it runs on AWS Lambda?",
        epilog="Exit codes: 0 ok / no leak, 1 leak or gate failure, 2 usage or runtime error, "
               "3 inconclusive.",
    )
    parser.add_argument("--version", action="version", version=f"heartbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _load_commands():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.prepare_parser(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args._run(args)
    except HeartbenchError as e:
        print(f"heartbench {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"heartbench {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
