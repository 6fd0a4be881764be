"""heartbench's options on Locust's own command line, and what they resolve to.

Each option has an environment variable. Values are checked where they are parsed, with errors that
name the value. Only --hb-pace-s is offered in the web UI's start form: the others take effect when
the process starts (the run directory, the emulator and the functions are set up in `init`).
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

from heartbench.config import FunctionConfig
from heartbench.errors import HeartbenchError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "handlers" / "functions.toml"
TARGETS = ("emulator", "aws")
VARIANTS = ("leaky", "fixed")


def target(value: str) -> str:
    """--hb-target: "emulator", "aws" or an http(s):// endpoint URL."""
    value = value.strip()
    if value in TARGETS or value.startswith(("http://", "https://")):
        return value.rstrip("/") if value.startswith("http") else value
    raise argparse.ArgumentTypeError(f"{value!r} is not emulator, aws or an http(s):// URL")


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be above 0 seconds")
    return seconds


def add_options(parser) -> None:
    """Register the --hb-* options on Locust's parser (`init_command_line_parser`)."""

    def option(name: str, help: str, web: bool = False, **kwargs) -> None:
        env_var = "HEARTBENCH_" + name[len("--hb-"):].upper().replace("-", "_")
        parser.add_argument(name, env_var=env_var, include_in_web_ui=web, help=help, **kwargs)

    option("--hb-target", type=target, default="emulator",
           help="emulator (start the embedded emulator and DynamoDB; default), aws (the deployed "
                "functions, by name), or the URL of any Lambda-compatible endpoint")
    option("--hb-functions", default="",
           help="comma-separated functions, pairs (both variants) or variants (leaky, fixed) to "
                "drive; default: every leaky and fixed function of the config")
    option("--hb-config", default=str(DEFAULT_CONFIG),
           help="function catalog (TOML); default: handlers/functions.toml")
    option("--hb-sample-interval-s", type=positive_seconds, default=1.0,
           help="seconds between psutil samples of the environment processes (local targets)")
    option("--hb-pace-s", type=positive_seconds, default=1.0, web=True,
           help="seconds between the starts of one user's invocations (constant pacing; the "
                "heartbeat handlers model a 1 s schedule)")
    option("--hb-report-dir", default="reports",
           help="directory that receives the run directory <run-id>/ (default: reports)")
    option("--hb-run-id", default="",
           help="name of the run directory (default: the UTC start time, 20241204T140000Z)")
    option("--hb-dynamodb-endpoint", default="",
           help="DynamoDB endpoint for the heartbeat tables (default with the emulator target: an "
                "embedded server on 127.0.0.1)")
    option("--hb-no-freeze", action="store_true", default=False,
           help="run the emulator with --no-freeze: environments keep running between "
                "invocations")
    option("--hb-no-report", action="store_true", default=False,
           help="at the end of a headless run, skip `heartbench report` and `heartbench gate` "
                "(the exit code is then Locust's own)")


def select_functions(catalog: dict[str, FunctionConfig], spec: str) -> list[dict]:
    """The functions named by `spec` (functions, pairs or variants, comma-separated), in catalog
    order, as {"function", "pair", "variant", "timeout_s"}. Empty: every leaky and fixed function.
    An unknown name raises HeartbenchError with a suggestion.
    """
    paired = [f for f in catalog.values() if f.variant in VARIANTS]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        chosen = paired
        if not chosen:
            raise HeartbenchError("the function config has no function with a variant "
                                  "(leaky or fixed); name functions with --hb-functions")
    else:
        pairs = {f.pair for f in paired if f.pair}
        chosen_names = set()
        for name in names:
            if name in catalog:
                chosen_names.add(name)
            elif name in pairs:
                chosen_names.update(f.name for f in paired if f.pair == name)
            elif name in VARIANTS:
                chosen_names.update(f.name for f in paired if f.variant == name)
            else:
                known = sorted(set(catalog) | pairs | set(VARIANTS))
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise HeartbenchError(f"--hb-functions: {name!r} is not a function, pair or "
                                      f"variant of the config{hint}")
        chosen = [f for f in catalog.values() if f.name in chosen_names]
    return [{"function": f.name, "pair": f.pair, "variant": f.variant, "timeout_s": f.timeout_s,
             "service_id": f.environment.get("SERVICE_ID"),
             "heartbeat_table": f.environment.get("HEARTBEAT_TABLE")} for f in chosen]
