"""`heartbench check`: run one unmodified handler under the emulator with the telemetry wrapper,
drive it with concurrent invocations and decide, per signal, whether it leaks.

The engine behind the `check` command and the pytest plugin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import tempfile
import threading
import time
from pathlib import Path

from analysis.verdicts import VariantVerdict, assess_variant
from heartbench.clients import FUNCTION_ERROR, REFUSED, THROTTLED, invoke_recorded, lambda_client
from heartbench.emulator.process import EmulatorProcess
from heartbench.errors import EXIT_INCONCLUSIVE, EXIT_LEAK, EXIT_OK, HeartbenchError

EXEC_WRAPPER = Path(__file__).parent / "telemetry" / "exec_wrapper.sh"
EXIT_CODES = {"no-leak": EXIT_OK, "leak": EXIT_LEAK, "inconclusive": EXIT_INCONCLUSIVE}
THROTTLE_PAUSE_S = 0.005
INIT_ERRORS = ("Runtime.ImportModuleError", "Runtime.HandlerNotFound", "Runtime.UserCodeSyntaxError",
               "Runtime.MalformedHandlerName", "Runtime.ExitError", "Sandbox.Timedout")


@dataclasses.dataclass
class CheckOptions:
    target: str                       # FILE.py:FUNCTION
    invocations: int = 300
    concurrency: int = 4
    memory_mb: int = 512
    timeout_s: float = 10.0
    freeze: bool = True
    event: dict = dataclasses.field(default_factory=dict)
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    dynamodb: bool = False            # start the embedded DynamoDB with the heartbeat tables


@dataclasses.dataclass
class CheckResult:
    options: CheckOptions
    verdict: VariantVerdict
    rows: list[dict]
    errors: dict[str, int]
    throttles: int
    environments: int
    elapsed_s: float

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict.verdict]

    def to_dict(self) -> dict:
        signals = {name: {"verdict": v.verdict, "slope": v.slope, "slope_low": v.slope_low,
                          "slope_high": v.slope_high, "unit": v.unit, "p_value": v.p_value,
                          "reason": v.reason} for name, v in self.verdict.signals.items()}
        return {"verdict": self.verdict.verdict, "invocations": len(self.rows), "target": self.options.target,
                "concurrency": self.options.concurrency, "freeze": self.options.freeze,
                "environments": self.environments, "errors": self.errors, "throttles": self.throttles,
                "elapsed_s": round(self.elapsed_s, 2), "signals": signals}


def parse_target(target: str) -> tuple[Path, str, str]:
    """'path/to/file.py:function' -> (code directory, module name, function name)."""
    path_text, sep, function = target.rpartition(":")
    if not sep or not path_text or not function.isidentifier():
        raise HeartbenchError(f"target {target!r} must be FILE.py:FUNCTION")
    path = Path(path_text)
    if path.suffix != ".py":
        raise HeartbenchError(f"target {target!r} must be FILE.py:FUNCTION (a .py file)")
    if not path.is_file():
        raise HeartbenchError(f"handler file {path_text!r} does not exist")
    if not path.stem.isidentifier():
        raise HeartbenchError(f"handler file name {path.name!r} is not an importable module name")
    return path.resolve().parent, path.stem, function


def _write_config(directory: Path, options: CheckOptions, name: str) -> Path:
    code_dir, module, function = parse_target(options.target)
    config = directory / "functions.toml"
    env_lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.env.items())
    config.write_text(
        f"[functions.{name}]\n"
        f"handler = {json.dumps(f'{module}.{function}')}\n"
        f"code = {json.dumps(str(code_dir))}\n"
        f"memory_mb = {options.memory_mb}\n"
        f"timeout_s = {options.timeout_s}\n"
        f"reserved_concurrency = {options.concurrency}\n"
        f"exec_wrapper = {json.dumps(str(EXEC_WRAPPER))}\n"
        f"[functions.{name}.environment]\n"
        f"HEARTBENCH_VARIANT = \"checked\"\n{env_lines}")
    return config


def _validate(options: CheckOptions) -> None:
    if options.invocations < 20:
        raise HeartbenchError(f"--invocations {options.invocations} is too few: at least 20 are needed")
    if options.concurrency < 1:
        raise HeartbenchError(f"--concurrency {options.concurrency} must be at least 1")
    if options.invocations < 20 * options.concurrency:
        raise HeartbenchError(f"--invocations {options.invocations} gives under 20 per environment at "
                              f"--concurrency {options.concurrency}; use at least {20 * options.concurrency}")
    parse_target(options.target)


class _Driver:
    """Closed-loop clients: `concurrency` threads invoke until `invocations` are answered."""

    def __init__(self, client, name: str, options: CheckOptions):
        self.client, self.name, self.options = client, name, options
        self.payload = json.dumps(options.event).encode()
        self.rows: list[dict] = []
        self.throttles = 0
        self.lock = threading.Lock()
        self.issued = 0
        self.failure: BaseException | None = None
        self.last_error_message = ""

    def _claim(self) -> bool:
        with self.lock:
            if self.issued >= self.options.invocations or self.failure is not None:
                return False
            self.issued += 1
            return True

    def invoke_once(self) -> dict | None:
        """One invocation's row; None when it was throttled."""
        done = invoke_recorded(self.client, self.name, self.payload, None, "checked")
        if done.outcome == THROTTLED:
            return None
        if done.outcome == REFUSED:
            raise HeartbenchError(f"invoking the handler failed: {done.row['error_type']}: {done.message}")
        if done.outcome == FUNCTION_ERROR:
            self.last_error_message = done.message[:300]
        return done.row

    def _worker(self) -> None:
        try:
            while self._claim():
                row = None
                while row is None:
                    row = self.invoke_once()
                    if row is None:
                        with self.lock:
                            self.throttles += 1
                        time.sleep(THROTTLE_PAUSE_S)
                with self.lock:
                    self.rows.append(row)
        except BaseException as e:  # surfaced by run(); every invocation issued is answered
            with self.lock:
                self.failure = e

    def run(self) -> None:
        threads = [threading.Thread(target=self._worker, name=f"check-{i}", daemon=True)
                   for i in range(self.options.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if isinstance(self.failure, HeartbenchError):
            raise self.failure
        if self.failure is not None:
            raise HeartbenchError(f"invoking the handler failed: {self.failure}")


def _first_invocation_checks(row: dict, target: str, message: str) -> None:
    if row["status"] == "error" and (row["threads"] is None or row["error_type"] in INIT_ERRORS):
        raise HeartbenchError(f"{target} cannot run: {row['error_type']}: {message}")
    if row["threads"] is None:
        raise HeartbenchError(f"{target}: the invocation's log tail carried no telemetry line")


def run_check(options: CheckOptions, log=lambda message: None) -> CheckResult:
    _validate(options)
    _, module, function = parse_target(options.target)
    name = re.sub(r"[^A-Za-z0-9_-]", "-", f"{module}-{function}")[:64]
    with tempfile.TemporaryDirectory(prefix="heartbench-check-") as tmp, contextlib.ExitStack() as stack:
        if options.dynamodb:
            from heartbench.store import DynamoServer, ensure_tables
            server = stack.enter_context(DynamoServer(log_path=Path(tmp) / "dynamodb.log"))
            ensure_tables(server.endpoint_url)
            options = dataclasses.replace(options, env={**server.environment(), **options.env})
            log(f"embedded DynamoDB at {server.endpoint_url}")
        config = _write_config(Path(tmp), options, name)
        extra = ["--idle-timeout-s", "3600"] + ([] if options.freeze else ["--no-freeze"])
        with EmulatorProcess(config, extra_args=extra, log_dir=Path(tmp) / "logs") as emu:
            client = lambda_client(emu.url, pool_size=options.concurrency + 2,
                                   read_timeout_s=options.timeout_s + 30)
            driver = _Driver(client, name, options)
            started = time.monotonic()
            first = driver.invoke_once()
            if first is None:
                raise HeartbenchError("the emulator throttled the first invocation")
            _first_invocation_checks(first, options.target, driver.last_error_message)
            driver.rows.append(first)
            driver.issued = 1
            log(f"first invocation answered in {first['response_time_ms']:.0f} ms; "
                f"driving {options.invocations} invocations at concurrency {options.concurrency}")
            driver.run()
            elapsed = time.monotonic() - started
            environments = len({r["env_id"] for r in driver.rows if r["env_id"]})
    rows = sorted(driver.rows, key=lambda r: r["t_s"])
    errors: dict[str, int] = {}
    for row in rows:
        if row["status"] == "error":
            errors[row["error_type"]] = errors.get(row["error_type"], 0) + 1
    return CheckResult(options, assess_variant(rows), rows, errors, driver.throttles, environments, elapsed)
