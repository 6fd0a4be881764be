"""Shared fixtures: a real emulator process on loopback and boto3 clients for it."""

from __future__ import annotations

from pathlib import Path

import time

import psutil
import pytest

from heartbench import clients

from heartbench.emulator.process import EmulatorProcess

TESTS = Path(__file__).parent
FUNCTIONS_TOML = TESTS / "functions" / "emulator.toml"


def lambda_client(url: str):
    """heartbench's own client (no retries), pooled for the tests' concurrent callers."""
    return clients.lambda_client(url, region_name="us-east-1", pool_size=20, read_timeout_s=30.0)


def settled(emu, count: int | None = None, function: str | None = None,
            timeout_s: float = 10.0) -> list[dict]:
    """The environments (of `function`, if given) once all of them, `count` if given, wait for
    their next event: a caller gets its answer before the runtime asks for the next one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        envs = [e for e in emu.environments() if function is None or e["function"] == function]
        if (count is None or len(envs) == count) and all(e["state"] in ("FROZEN", "READY") for e in envs):
            return envs
        time.sleep(0.02)
    raise AssertionError(f"environments did not settle: {emu.environments()}")


def gone(pids, timeout_s: float = 10.0) -> bool:
    """True once none of `pids` is a live (non-zombie) process."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    logs = tmp_path_factory.mktemp("emulator-logs")
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=logs,
                         extra_args=["--init-timeout-s", "1", "--async-retry-delays-s", "0.1,0.1"]) as emu:
        yield emu


@pytest.fixture(scope="module")
def client(emulator):
    return lambda_client(emulator.url)
