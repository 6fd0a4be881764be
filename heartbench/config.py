"""Function configuration: the TOML file that declares the functions an emulator runs."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

from heartbench.errors import HeartbenchError

RUNTIMES = ("python", "provided")
MAX_MEMORY_MB = 10240
MIN_MEMORY_MB = 128
MAX_TIMEOUT_S = 900
_KNOWN_KEYS = {
    "handler", "code", "runtime", "memory_mb", "timeout_s", "reserved_concurrency",
    "environment", "exec_wrapper", "pair", "variant", "description",
}


@dataclasses.dataclass(frozen=True)
class FunctionConfig:
    name: str
    handler: str
    code_dir: Path
    runtime: str = "python"
    memory_mb: int = 128
    timeout_s: float = 3.0
    reserved_concurrency: int = 10
    environment: dict[str, str] = dataclasses.field(default_factory=dict)
    exec_wrapper: Path | None = None
    pair: str | None = None
    variant: str | None = None
    description: str = ""

    def with_overrides(self, **changes) -> "FunctionConfig":
        return dataclasses.replace(self, **changes)


def _require(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise HeartbenchError(f"{where}: {message}")


def _parse_function(name: str, table: dict, base: Path, where: str) -> FunctionConfig:
    unknown = sorted(set(table) - _KNOWN_KEYS)
    _require(not unknown, where, f"unknown key {unknown[0]!r}" if unknown else "")
    runtime = table.get("runtime", "python")
    _require(runtime in RUNTIMES, where, f"runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    handler = table.get("handler", "bootstrap" if runtime == "provided" else None)
    _require(isinstance(handler, str) and handler != "", where, "handler is required (module.function)")
    if runtime == "python":
        _require("." in handler, where, f"handler {handler!r} must be module.function")
    code = table.get("code", ".")
    _require(isinstance(code, str), where, "code must be a directory path")
    code_dir = (base / code).resolve()
    _require(code_dir.is_dir(), where, f"code directory {str(code_dir)!r} does not exist")
    if runtime == "provided":
        bootstrap = code_dir / "bootstrap"
        _require(bootstrap.is_file() and os.access(bootstrap, os.X_OK), where,
                 f"runtime 'provided' needs an executable {str(bootstrap)!r}")
    memory_mb = table.get("memory_mb", 128)
    _require(isinstance(memory_mb, int) and MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB, where,
             f"memory_mb {memory_mb!r} must be an integer from {MIN_MEMORY_MB} to {MAX_MEMORY_MB}")
    timeout_s = table.get("timeout_s", 3)
    _require(isinstance(timeout_s, (int, float)) and 0 < timeout_s <= MAX_TIMEOUT_S, where,
             f"timeout_s {timeout_s!r} must be a number of seconds above 0 and at most {MAX_TIMEOUT_S}")
    concurrency = table.get("reserved_concurrency", 10)
    _require(isinstance(concurrency, int) and concurrency >= 1, where,
             f"reserved_concurrency {concurrency!r} must be an integer of at least 1")
    env = table.get("environment", {})
    _require(isinstance(env, dict), where, "environment must be a table")
    bad = [k for k, v in env.items() if not isinstance(v, (str, int, float, bool))]
    _require(not bad, where, f"environment value of {bad[0]!r} must be a string" if bad else "")
    wrapper = table.get("exec_wrapper") or None
    wrapper_path = None
    if wrapper:
        wrapper_path = (base / wrapper).resolve()
        _require(wrapper_path.is_file(), where, f"exec_wrapper {str(wrapper_path)!r} does not exist")
    variant = table.get("variant")
    _require(variant in (None, "leaky", "fixed"), where, f"variant {variant!r} must be 'leaky' or 'fixed'")
    return FunctionConfig(
        name=name, handler=handler, code_dir=code_dir, runtime=runtime, memory_mb=memory_mb,
        timeout_s=float(timeout_s), reserved_concurrency=concurrency,
        environment={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in env.items()},
        exec_wrapper=wrapper_path, pair=table.get("pair"), variant=variant,
        description=table.get("description", ""),
    )


def load_functions(path: str | os.PathLike) -> dict[str, FunctionConfig]:
    """Read a functions TOML file; raise HeartbenchError naming the file and the problem."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise HeartbenchError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise HeartbenchError(f"{path}: not valid TOML: {e}") from None
    functions = data.get("functions")
    if not isinstance(functions, dict) or not functions:
        raise HeartbenchError(f"{path}: no [functions.NAME] table")
    base = path.resolve().parent
    result = {}
    for name, table in functions.items():
        where = f"{path}: [functions.{name}]"
        _require(isinstance(table, dict), where, "must be a table")
        _require(name.replace("-", "").replace("_", "").isalnum() and len(name) <= 64, where,
                 "function names may hold letters, digits, '-' and '_' (at most 64)")
        result[name] = _parse_function(name, table, base, where)
    return result
