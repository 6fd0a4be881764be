"""Each leaky/fixed pair under the emulator, at a concurrency above 1: leaky counts grow, fixed stay flat.

Real processes throughout: a moto DynamoDB server, the emulator on handlers/functions.toml with its
functions pointed at that server (`--env AWS_ENDPOINT_URL_DYNAMODB=...`), boto3 Invoke with
LogType=Tail. The telemetry comes from the EMF line in each invocation's log tail; delivered
heartbeats are counted from the table. Heartbeat loops run every 0.1 s here (HEARTBEAT_INTERVAL_S).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from heartbench.clients import lambda_client
from heartbench.emulator.process import EmulatorProcess
from heartbench.store import (
    HISTORY_TABLE, DynamoServer, count_heartbeats, ensure_tables, latest_heartbeat,
)
from heartbench.telemetry import find_records

CATALOG = Path(__file__).resolve().parents[1] / "handlers" / "functions.toml"
INTERVAL_S = 0.1
POLL_DEADLINE_S = 15.0
MAX_INVOCATIONS_TO_OOM = 60


@dataclasses.dataclass
class Outcome:
    function: str
    error_type: str | None    # None when the invocation succeeded
    body: object
    record: dict | None       # the EMF record from the log tail


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with DynamoServer() as db:
        ensure_tables(db.endpoint_url)
        args = ["--env", f"AWS_ENDPOINT_URL_DYNAMODB={db.endpoint_url}",
                "--env", f"HEARTBEAT_INTERVAL_S={INTERVAL_S}"]
        with EmulatorProcess(CATALOG, extra_args=args,
                             log_dir=tmp_path_factory.mktemp("logs")) as emulator:
            lam = lambda_client(emulator.url, region_name="us-east-1", pool_size=20, read_timeout_s=30)
            yield emulator, lam, db.endpoint_url


def invoke(lam, function: str, event: dict) -> Outcome:
    response = lam.invoke(FunctionName=function, LogType="Tail", Payload=json.dumps(event).encode())
    body = json.loads(response["Payload"].read() or b"null")
    tail = base64.b64decode(response["LogResult"]).decode(errors="replace")
    records = find_records(tail)
    assert len(records) <= 1, tail
    error_type = None
    if response.get("FunctionError"):
        error_type = body.get("errorType") if isinstance(body, dict) else "unknown"
    return Outcome(function, error_type, body, records[0] if records else None)


def run(lam, counts: dict[str, int], per_function: int, event: dict | None = None) -> dict:
    """Invoke every function `counts[f]` times, all functions at once, `per_function` callers each."""
    results = {f: [] for f in counts}
    lock = threading.Lock()

    def caller(function: str, n: int) -> None:
        for _ in range(n):
            outcome = invoke(lam, function, event or {})
            with lock:
                results[function].append(outcome)

    jobs = [(f, n // per_function + (i < n % per_function))
            for f, n in counts.items() for i in range(per_function)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(caller, f, n) for f, n in jobs]:
            future.result()
    return results


def by_env(outcomes: list[Outcome]) -> dict[str, list[dict]]:
    """EMF records grouped per environment, in invocation order."""
    groups: dict[str, list[dict]] = {}
    for o in outcomes:
        if o.record is not None:
            groups.setdefault(o.record["env_id"], []).append(o.record)
    return {env: sorted(recs, key=lambda r: r["invocation"]) for env, recs in groups.items()}


def assert_all_ok_with_telemetry(outcomes: list[Outcome]) -> None:
    assert [o.error_type for o in outcomes if o.error_type] == []
    assert all(o.record is not None for o in outcomes)


def assert_grows_by_one_per_invocation(outcomes, metric: str) -> None:
    """In every environment, `metric` rises by exactly one per invocation served."""
    envs = by_env(outcomes)
    for records in envs.values():
        first = records[0]
        for r in records:
            assert r[metric] - first[metric] == r["invocation"] - first["invocation"], records
    assert max(len(recs) for recs in envs.values()) >= 3  # environments were reused


def assert_flat(outcomes, metric: str, value: int | None = None) -> None:
    values = {o.record[metric] for o in outcomes}
    assert len(values) == 1, values
    if value is not None:
        assert values == {value}


def delivered_equals_reported(endpoint: str, function: str, outcomes) -> int:
    """Heartbeats in the table == what the environments reported (no write outside invocations)."""
    reported = sum(recs[-1]["Heartbeats"] for recs in by_env(outcomes).values())
    delivered = count_heartbeats(endpoint, HISTORY_TABLE, function)[function]
    assert delivered == reported
    return delivered


def wait_until_frozen(emulator, function: str) -> None:
    deadline = time.monotonic() + POLL_DEADLINE_S
    while True:
        states = {e["state"] for e in emulator.environments() if e["function"] == function}
        if states == {"FROZEN"}:
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.02)


def settled_count(endpoint: str, function: str) -> int:
    """The function's heartbeat count once writes already sent have landed (two reads agree)."""
    deadline = time.monotonic() + POLL_DEADLINE_S
    previous = None
    while True:
        count = count_heartbeats(endpoint, HISTORY_TABLE, function)[function]
        if count == previous:
            return count
        assert time.monotonic() < deadline
        previous = count
        time.sleep(0.2)


def test_ticker_leaks_a_thread_per_invocation_and_writes_nothing_while_frozen(stack):
    emulator, lam, endpoint = stack
    results = run(lam, {"ticker-leaky": 40, "ticker-fixed": 40}, per_function=2)
    leaky, fixed = results["ticker-leaky"], results["ticker-fixed"]
    assert_all_ok_with_telemetry(leaky + fixed)
    assert_grows_by_one_per_invocation(leaky, "Threads")
    assert_flat(fixed, "Threads")
    assert delivered_equals_reported(endpoint, "ticker-fixed", fixed) == 40

    # Between invocations the environment is frozen: dozens of tickers, and not one heartbeat.
    wait_until_frozen(emulator, "ticker-leaky")
    before = settled_count(endpoint, "ticker-leaky")
    time.sleep(10 * INTERVAL_S)
    assert count_heartbeats(endpoint, HISTORY_TABLE, "ticker-leaky")["ticker-leaky"] == before


def test_deadline_loop_outlives_its_invocation_unless_bound_and_joined(stack):
    _, lam, endpoint = stack
    results = run(lam, {"deadline-leaky": 30, "deadline-fixed": 30}, per_function=2,
                  event={"work_ms": 20})
    leaky, fixed = results["deadline-leaky"], results["deadline-fixed"]
    assert_all_ok_with_telemetry(leaky + fixed)
    assert_grows_by_one_per_invocation(leaky, "Threads")
    assert_flat(fixed, "Threads")
    assert all(o.body == {"work": "done", "heartbeat_loop_alive": False} for o in fixed)
    # the work (20 ms) is shorter than the interval: exactly one heartbeat per invocation
    assert delivered_equals_reported(endpoint, "deadline-fixed", fixed) == 30


def test_asyncio_tasks_pile_up_on_a_kept_loop_but_not_in_a_task_group(stack):
    _, lam, endpoint = stack
    results = run(lam, {"asyncio-leaky": 30, "asyncio-fixed": 30}, per_function=2)
    leaky, fixed = results["asyncio-leaky"], results["asyncio-fixed"]
    assert_all_ok_with_telemetry(leaky + fixed)
    for records in by_env(leaky).values():
        assert [r["Tasks"] for r in records] == [r["invocation"] for r in records]
    assert_flat(fixed, "Tasks", 0)
    assert_flat(fixed, "Threads")
    assert delivered_equals_reported(endpoint, "asyncio-fixed", fixed) == 30


def test_client_per_invocation_grows_memory_until_the_environment_is_killed(stack):
    _, lam, endpoint = stack
    results = run(lam, {"client-leaky": 12, "client-fixed": 12}, per_function=1)
    leaky, fixed = results["client-leaky"], results["client-fixed"]
    assert_all_ok_with_telemetry(leaky + fixed)
    for records in by_env(leaky).values():
        for a, b in zip(records, records[1:]):
            assert b["RSS"] - a["RSS"] > 2_000_000  # MBs per invocation
            assert b["GCObjects"] - a["GCObjects"] > 10_000
    for records in by_env(fixed).values():
        assert records[-1]["RSS"] - records[0]["RSS"] < 2_000_000
        assert records[-1]["GCObjects"] - records[0]["GCObjects"] < 2_000
    assert delivered_equals_reported(endpoint, "client-fixed", fixed) == 12

    # ~10 MB per invocation against memory_mb = 256: the emulator kills the environment after
    # about 20 invocations, and the next invocation is served again.
    for _ in range(MAX_INVOCATIONS_TO_OOM):
        outcome = invoke(lam, "client-leaky", {})
        if outcome.error_type:
            break
        leaky.append(outcome)
    assert outcome.error_type == "Runtime.OutOfMemory", outcome.body
    assert max(o.record["RSS"] for o in leaky) > 200_000_000
    assert invoke(lam, "client-leaky", {}).error_type is None  # served by a new environment


def test_conditional_write_fails_invocations_unless_a_failed_condition_is_success(stack):
    _, lam, endpoint = stack
    start_s = time.monotonic()
    results = run(lam, {"conditional-leaky": 30, "conditional-fixed": 30}, per_function=3)
    windows = math.ceil((time.monotonic() - start_s) / 3.0) + 1  # accepted writes: one per 3 s
    leaky, fixed = results["conditional-leaky"], results["conditional-fixed"]
    assert all(o.record is not None for o in leaky + fixed)  # the EMF line even when it raises
    failed = [o for o in leaky if o.error_type]
    assert {o.error_type for o in failed} == {"ConditionalCheckFailedException"}
    assert 30 - windows <= len(failed) < 30
    assert [o.error_type for o in fixed if o.error_type] == []
    written = [o for o in fixed if o.body["heartbeat"] == "written"]
    assert 1 <= len(written) <= windows
    assert len(fixed) - len(written) >= 30 - windows  # "already recorded", and that is success
    for function in ("conditional-leaky", "conditional-fixed"):
        assert latest_heartbeat(endpoint, function) is not None
