"""Shared fixtures: a real emulator process on loopback and boto3 clients for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from heartbench import clients

from heartbench.emulator.process import EmulatorProcess

TESTS = Path(__file__).parent
FUNCTIONS_TOML = TESTS / "functions" / "emulator.toml"


def lambda_client(url: str):
    """heartbench's own client (no retries), pooled for the tests' concurrent callers."""
    return clients.lambda_client(url, region_name="us-east-1", pool_size=20, read_timeout_s=30.0)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    logs = tmp_path_factory.mktemp("emulator-logs")
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=logs,
                         extra_args=["--init-timeout-s", "1", "--async-retry-delays-s", "0.1,0.1"]) as emu:
        yield emu


@pytest.fixture(scope="module")
def client(emulator):
    return lambda_client(emulator.url)
