"""`heartbench check FILE.py:FUNCTION`: does this handler leak under the Lambda lifecycle?"""

from __future__ import annotations

import argparse
import json
import os
import sys

from heartbench.commands import env_pair
from heartbench.errors import HeartbenchError

NAME = "check"
HELP = ("Run one unmodified handler under the emulator with the telemetry wrapper and print a leak "
        "verdict per signal. Exit 0 no leak, 1 leak, 3 inconclusive, 2 usage or runtime error.")
LABELS = {"leak": "LEAK", "no-leak": "NO LEAK", "inconclusive": "INCONCLUSIVE"}


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise HeartbenchError(f"{name}={value!r} is not an integer") from None


def _event(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--event must be a JSON object, got {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--event must be a JSON object, got {text!r}")
    return value


def prepare_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="FILE.py:FUNCTION", help="the handler to check")
    p.add_argument("--invocations", type=int, default=None,
                   help="invocations in total; default 300 (env HEARTBENCH_CHECK_INVOCATIONS)")
    p.add_argument("--concurrency", type=int, default=None,
                   help="concurrent invocations = environments; default 4 (env HEARTBENCH_CHECK_CONCURRENCY)")
    p.add_argument("--memory-mb", type=int, default=512, help="the function's memory size; default 512")
    p.add_argument("--timeout-s", type=float, default=10.0, help="the function's timeout; default 10")
    p.add_argument("--no-freeze", action="store_true", help="keep environments running between invocations")
    p.add_argument("--event", type=_event, default={}, help="the event, a JSON object; default {}")
    p.add_argument("--env", action="append", type=env_pair, default=[], metavar="KEY=VALUE",
                   help="environment variable for the function (repeatable)")
    p.add_argument("--dynamodb", action="store_true",
                   help="start the embedded DynamoDB server with the heartbeat tables and give the "
                        "function its endpoint (AWS_ENDPOINT_URL_DYNAMODB)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def format_result(result) -> str:
    from analysis.verdicts import format_number  # numpy and scipy: only when there is a result
    o = result.options
    lines = [f"heartbench check {o.target}: {len(result.rows)} invocations, concurrency {o.concurrency}, "
             f"{result.environments} environment(s), freeze {'on' if o.freeze else 'off'}, "
             f"{result.elapsed_s:.1f} s"]
    if result.errors:
        lines.append("  errors: " + ", ".join(f"{k} x{v}" for k, v in sorted(result.errors.items())))
    for name, v in result.verdict.signals.items():
        if v.slope is not None:
            rate = (f"{format_number(v.slope, True)} {v.unit} "
                    f"(95% CI {format_number(v.slope_low)} .. {format_number(v.slope_high)})")
        else:
            rate = "-"
        lines.append(f"  {name:8} {LABELS[v.verdict]:13} {rate}")
        lines.append(f"  {'':8} {v.reason}")
    lines.append(f"verdict: {LABELS[result.verdict.verdict]}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from heartbench.checker import CheckOptions, run_check
    options = CheckOptions(
        target=args.target,
        invocations=args.invocations if args.invocations is not None else _int_env("HEARTBENCH_CHECK_INVOCATIONS", 300),
        concurrency=args.concurrency if args.concurrency is not None else _int_env("HEARTBENCH_CHECK_CONCURRENCY", 4),
        memory_mb=args.memory_mb, timeout_s=args.timeout_s, freeze=not args.no_freeze,
        event=args.event, env=dict(args.env), dynamodb=args.dynamodb)
    progress = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    result = run_check(options, log=progress)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(format_result(result))
    return result.exit_code
