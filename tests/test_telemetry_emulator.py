"""The exec wrapper under the emulator: an unmodified handler measured through AWS_LAMBDA_EXEC_WRAPPER."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import heartbench.telemetry
from heartbench.clients import lambda_client
from heartbench.emulator.process import EmulatorProcess
from heartbench.telemetry import find_records

EXEC_WRAPPER = Path(heartbench.telemetry.__file__).parent / "exec_wrapper.sh"

PLAIN = '''
"""Knows nothing of heartbench: leaks one thread per invocation."""
import threading

_stop = threading.Event()

def handler(event, context):
    threading.Thread(target=_stop.wait, daemon=True).start()
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"threads_started": threading.active_count() - 1}
'''

DECORATED = '''
from heartbench.telemetry import instrument

@instrument
def handler(event, context):
    return "ok"
'''

CONFIG = '''
[functions.plain]
handler = "plain.handler"
code = "code"
exec_wrapper = "{wrapper}"
[functions.plain.environment]
HEARTBENCH_VARIANT = "leaky"
HEARTBENCH_PAIR = "plain"

[functions.decorated]
handler = "decorated.handler"
code = "code"
exec_wrapper = "{wrapper}"
'''


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    root = tmp_path_factory.mktemp("wrapped")
    (root / "code").mkdir()
    (root / "code" / "plain.py").write_text(PLAIN)
    (root / "code" / "decorated.py").write_text(DECORATED)
    (root / "functions.toml").write_text(CONFIG.format(wrapper=EXEC_WRAPPER))
    with EmulatorProcess(root / "functions.toml", log_dir=root / "logs") as emu:
        yield emu


def invoke(emulator, function: str, event: dict) -> tuple[dict, object, list[dict]]:
    lam = lambda_client(emulator.url, region_name="us-east-1", read_timeout_s=30)
    response = lam.invoke(FunctionName=function, LogType="Tail", Payload=json.dumps(event).encode())
    body = json.loads(response["Payload"].read())
    return response, body, find_records(base64.b64decode(response["LogResult"]).decode())


def test_wrapper_measures_an_unmodified_handler_under_the_emulator(emulator):
    outcomes = [invoke(emulator, "plain", {"fail": i == 2}) for i in range(5)]
    records = [recs[0] for _, _, recs in outcomes]
    assert all(len(recs) == 1 for _, _, recs in outcomes)
    assert [r["invocation"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["Threads"] for r in records] == [2, 3, 4, 5, 6]
    assert {(r["function"], r["variant"], r["pair"]) for r in records} == \
        {("plain", "leaky", "plain")}
    (environment,) = [e for e in emulator.environments() if e["function"] == "plain"]
    assert {r["env_id"] for r in records} == {environment["id"]}
    # the handler's answers and its failure pass through the wrapper unchanged
    response, body, _ = outcomes[2]
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "asked to fail"
    assert outcomes[4][1] == {"threads_started": 5}


def test_wrapper_does_not_measure_a_decorated_handler_twice(emulator):
    for _ in range(2):
        response, body, records = invoke(emulator, "decorated", {})
        assert body == "ok" and "FunctionError" not in response
        assert len(records) == 1
