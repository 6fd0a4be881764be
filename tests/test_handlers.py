"""The handler catalog and the handlers that can be called in-process (no background work)."""

from __future__ import annotations

import ast
import importlib.util
import sys
import time
from pathlib import Path

import botocore.exceptions
import pytest

from heartbench.config import load_functions
from heartbench.store import (
    DEFAULT_TABLES, HISTORY_TABLE, LATEST_TABLE, DynamoServer, count_heartbeats, dynamodb_client,
    ensure_tables, latest_heartbeat,
)

HANDLERS = Path(__file__).resolve().parents[1] / "handlers"
CATALOG = HANDLERS / "functions.toml"
PAIRS = {"ticker", "deadline", "asyncio", "client", "conditional"}
# What a handler may import to deploy to Lambda as it is: stdlib, boto3 (in the runtime), the
# telemetry package (deployment package or layer) and the shared module next to it.
ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"boto3", "botocore", "heartbench", "heartbeat"}


def test_catalog_declares_five_pairs_of_leaky_and_fixed_functions():
    functions = load_functions(CATALOG)
    assert len(functions) == 10
    pairs = {}
    service_ids = set()
    for name, fn in functions.items():
        pairs.setdefault(fn.pair, set()).add(fn.variant)
        assert name == f"{fn.pair}-{fn.variant}"
        assert fn.handler == f"{fn.pair}_{fn.variant}.handler"
        assert fn.code_dir == HANDLERS and fn.runtime == "python"
        # both variants of a pair get the same memory size, so only the code differs
        assert fn.memory_mb == functions[f"{fn.pair}-fixed"].memory_mb >= 256
        assert fn.reserved_concurrency == 10 and 3 <= fn.timeout_s <= 5
        env = fn.environment
        assert env["HEARTBENCH_PAIR"] == fn.pair and env["HEARTBENCH_VARIANT"] == fn.variant
        assert env["HEARTBEAT_TABLE"] == (LATEST_TABLE if fn.pair == "conditional"
                                          else HISTORY_TABLE)
        assert env["HEARTBEAT_TABLE"] in DEFAULT_TABLES
        service_ids.add(env["SERVICE_ID"])
    assert pairs == {pair: {"leaky", "fixed"} for pair in PAIRS}
    assert len(service_ids) == 10  # heartbeats can be counted per function


@pytest.mark.parametrize("path", sorted(HANDLERS.glob("*.py")), ids=lambda p: p.stem)
def test_handler_modules_deploy_as_they_are(path):
    tree = ast.parse(path.read_text())
    doc = ast.get_docstring(tree)
    assert doc and len(doc) > 200, "each module explains itself"
    if path.stem.endswith("_leaky"):
        assert "Fix (" in doc, "a leaky module names its fix"
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
            if node.module.startswith("heartbench"):
                assert node.module == "heartbench.telemetry", node.module
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS


# --- in-process calls against a real moto server ----------------------------------------------

class Context:
    aws_request_id = "req"

    def get_remaining_time_in_millis(self):
        return 3000


@pytest.fixture(scope="module")
def endpoint():
    with DynamoServer() as server:
        ensure_tables(server.endpoint_url)
        yield server.endpoint_url


def load(name, monkeypatch, endpoint, service_id, table):
    """Import handlers/<name>.py afresh with the function's environment."""
    for key, value in {"AWS_ENDPOINT_URL_DYNAMODB": endpoint, "AWS_REGION": "us-east-1",
                       "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                       "SERVICE_ID": service_id, "HEARTBEAT_TABLE": table}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(HANDLERS))
    spec = importlib.util.spec_from_file_location(f"under_test_{name}", HANDLERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_latest(endpoint, service_id, timestamp_ms):
    dynamodb_client(endpoint).put_item(TableName=LATEST_TABLE, Item={
        "ServiceID": {"S": service_id}, "Timestamp": {"N": str(timestamp_ms)}})


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_seed_condition_as_printed_is_rejected_by_dynamodb(monkeypatch, endpoint, capsys):
    module = load("conditional_leaky", monkeypatch, endpoint, "verbatim", LATEST_TABLE)
    monkeypatch.setenv("SEED_CONDITION", "verbatim")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        module.handler({}, Context())
    assert error_code(excinfo) == "ValidationException"
    assert "reserved keyword: Timestamp" in str(excinfo.value)
    assert latest_heartbeat(endpoint, "verbatim") is None  # no heartbeat, ever


def test_conditional_leaky_fails_every_write_within_three_seconds(monkeypatch, endpoint, capsys):
    module = load("conditional_leaky", monkeypatch, endpoint, "cond-leaky", LATEST_TABLE)
    now_ms = int(time.time() * 1000)
    seed_latest(endpoint, "cond-leaky", now_ms - 3500)  # older than the window: accepted
    assert module.handler({}, Context()) is None
    written = latest_heartbeat(endpoint, "cond-leaky")["Timestamp"]
    assert written >= now_ms
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        module.handler({}, Context())
    assert error_code(excinfo) == "ConditionalCheckFailedException"
    assert latest_heartbeat(endpoint, "cond-leaky")["Timestamp"] == written


def test_conditional_fixed_takes_a_failed_condition_as_success(monkeypatch, endpoint, capsys):
    module = load("conditional_fixed", monkeypatch, endpoint, "cond-fixed", LATEST_TABLE)
    first = module.handler({}, Context())
    second = module.handler({}, Context())
    assert first["heartbeat"] == "written"
    assert second == {"heartbeat": "already recorded"}
    assert latest_heartbeat(endpoint, "cond-fixed")["Timestamp"] == first["heartbeat_ms"]


def test_history_heartbeats_written_together_do_not_overwrite(monkeypatch, endpoint, capsys):
    module = load("client_fixed", monkeypatch, endpoint, "burst", HISTORY_TABLE)
    stamps = [module.handler({}, Context())["heartbeat_ms"] for _ in range(20)]
    assert len(set(stamps)) == 20
    assert count_heartbeats(endpoint, HISTORY_TABLE, "burst") == {"burst": 20}
    assert len(capsys.readouterr().out.splitlines()) == 20  # one EMF line each
