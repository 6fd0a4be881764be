"""Shared fixtures: a real emulator process on loopback and boto3 clients for it."""

from __future__ import annotations

from pathlib import Path

import boto3
import botocore.config
import pytest

from heartbench.emulator.process import EmulatorProcess

TESTS = Path(__file__).parent
FUNCTIONS_TOML = TESTS / "functions" / "emulator.toml"


def lambda_client(url: str, read_timeout_s: float = 30.0):
    config = botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout_s,
                                    max_pool_connections=20)
    return boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=config)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    logs = tmp_path_factory.mktemp("emulator-logs")
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=logs,
                         extra_args=["--init-timeout-s", "1", "--async-retry-delays-s", "0.1,0.1"]) as emu:
        yield emu


@pytest.fixture(scope="module")
def client(emulator):
    return lambda_client(emulator.url)
