"""`heartbench emulator`: serve the functions of a config file like Lambda does, on loopback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from heartbench.children import signal_on_parent_death
from heartbench.commands import env_pair
from heartbench.config import load_functions
from heartbench.emulator.options import EmulatorOptions, caller_credentials
from heartbench.emulator.process import READY_PREFIX
from heartbench.errors import HeartbenchError

NAME = "emulator"
HELP = "Run a local Lambda emulator: real runtime processes, frozen between invocations."


def _delays(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds, got {text!r}") from None
    if len(values) > 2 or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"at most 2 non-negative retry delays, got {text!r}")
    return values


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
        return value
    return parse


def _env(name: str, default=None):
    return os.environ.get(name, default)


def prepare_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=_env("HEARTBENCH_CONFIG") is None, default=_env("HEARTBENCH_CONFIG"),
                   help="functions TOML file (env HEARTBENCH_CONFIG)")
    p.add_argument("--host", default=_env("HEARTBENCH_HOST", "127.0.0.1"),
                   help="address to bind, default 127.0.0.1 (env HEARTBENCH_HOST)")
    p.add_argument("--port", type=int, default=int(_env("HEARTBENCH_PORT", "9001")),
                   help="front-door port, 0 picks a free one; default 9001 (env HEARTBENCH_PORT)")
    p.add_argument("--no-freeze", action="store_true", default=_env("HEARTBENCH_NO_FREEZE") == "1",
                   help="keep environments running between invocations, like a container (env HEARTBENCH_NO_FREEZE=1)")
    p.add_argument("--idle-timeout-s", type=_positive(float), default=float(_env("HEARTBENCH_IDLE_TIMEOUT_S", "600")),
                   help="shut down environments idle this long; default 600 (env HEARTBENCH_IDLE_TIMEOUT_S)")
    p.add_argument("--init-timeout-s", type=_positive(float), default=10.0,
                   help="limit of the Init phase; default 10 as on Lambda")
    p.add_argument("--account-concurrency", type=_positive(int), default=1000,
                   help="environments across all functions; default 1000")
    p.add_argument("--async-retry-delays-s", type=_delays, default=(60.0, 120.0),
                   help="delays before the retries of a failed Event invocation; default 60,120")
    p.add_argument("--env", action="append", type=env_pair, default=[], metavar="KEY=VALUE",
                   help="set an environment variable in every function (repeatable)")
    p.add_argument("--log-dir", default=_env("HEARTBENCH_LOG_DIR"),
                   help="where the log stream files go; default a new temporary directory (env HEARTBENCH_LOG_DIR)")
    p.add_argument("--dynamodb", action="store_true",
                   help="also start the embedded DynamoDB server (moto, on 127.0.0.1) with the heartbeat "
                        "tables and give every function its endpoint (AWS_ENDPOINT_URL_DYNAMODB)")
    p.add_argument("--pass-credentials", action="store_true",
                   help="give functions the emulator's own AWS credentials (default: placeholders, so "
                        "that nothing run here can act on a real AWS account)")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop when the process that started the emulator dies")


def run(args: argparse.Namespace) -> int:
    functions = load_functions(args.config)
    if not 0 <= args.port <= 65535:
        raise HeartbenchError(f"--port {args.port} is not a TCP port (0-65535)")
    if args.exit_with_parent:
        signal_on_parent_death()
    with contextlib.ExitStack() as stack:
        env = dict(args.env)
        if args.dynamodb:
            from heartbench.store import DynamoServer, ensure_tables
            dynamo = stack.enter_context(DynamoServer())
            ensure_tables(dynamo.endpoint_url)
            env = {**dynamo.environment(), **env}
            print(f"heartbench emulator: embedded DynamoDB at {dynamo.endpoint_url}", flush=True)
        if args.log_dir:
            log_dir = Path(args.log_dir)
        else:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="heartbench-logs-")))
        options = EmulatorOptions(
            log_dir=log_dir, host=args.host, freeze=not args.no_freeze, idle_timeout_s=args.idle_timeout_s,
            init_timeout_s=args.init_timeout_s, account_concurrency=args.account_concurrency,
            async_retry_delays_s=args.async_retry_delays_s, env_overrides=env)
        if args.pass_credentials:
            options.credentials = caller_credentials()
        return _serve(args, functions, options)


def _serve(args, functions, options) -> int:
    from heartbench.emulator import server
    log_dir = options.log_dir

    def ready(url: str) -> None:
        kept = "" if args.log_dir else " (removed at exit; --log-dir keeps them)"
        print(f"heartbench emulator: {len(functions)} function(s) from {args.config}; "
              f"freeze {'on' if options.freeze else 'off'}; logs in {log_dir}{kept}", flush=True)
        print(f"{READY_PREFIX}{url}", flush=True)

    try:
        asyncio.run(server.run(functions, options, args.port, on_ready=ready))
    except OSError as e:
        raise HeartbenchError(f"cannot serve on {args.host}:{args.port}: {e.strerror}") from None
    print("heartbench emulator: stopped", file=sys.stderr, flush=True)
    return 0
