"""Freeze/thaw against --no-freeze, and shutdown that leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import pytest

from heartbench.emulator.process import EmulatorProcess

from conftest import FUNCTIONS_TOML, gone, lambda_client, settled

IDLE_S = 0.6


def ticks(client) -> int:
    return json.loads(client.invoke(FunctionName="ticker", Payload=b"{}")["Payload"].read())["ticks"]


def ticks_while_idle(extra_args, tmp_path) -> int:
    """Start the ticker's background thread, leave the environment idle, count ticks it made."""
    with EmulatorProcess(FUNCTIONS_TOML, extra_args=extra_args, log_dir=tmp_path) as emu:
        client = lambda_client(emu.url)
        ticks(client)                      # cold start; the thread starts
        before = ticks(client)
        time.sleep(IDLE_S)                 # the idle period under test (not a readiness wait)
        return ticks(client) - before


def test_frozen_environment_runs_no_background_thread(tmp_path):
    # The thread ticks every 10 ms; frozen, it only runs during the ~1 ms of each invocation.
    assert ticks_while_idle([], tmp_path) <= 3


def test_no_freeze_lets_background_thread_run(tmp_path):
    assert ticks_while_idle(["--no-freeze"], tmp_path) >= IDLE_S / 0.01 / 3


def test_frozen_process_group_is_stopped(tmp_path):
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path) as emu:
        client = lambda_client(emu.url)
        ticks(client)
        env = settled(emu, 1)[0]
        assert env["state"] == "FROZEN"
        assert psutil.Process(env["pid"]).status() == psutil.STATUS_STOPPED
        assert env["invocations"] == 1 and env["init_duration_ms"] > 0


def _start_environments(emu) -> list[int]:
    client = lambda_client(emu.url)
    for name in ("ticker", "echo", "noop"):
        client.invoke(FunctionName=name, Payload=b"{}")
    pids = [e["pid"] for e in settled(emu, 3)]
    return pids


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stop_with_frozen_environments_leaves_no_process(tmp_path, sig):
    emu = EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path).start()
    try:
        pids = _start_environments(emu)
        assert all(psutil.Process(p).status() == psutil.STATUS_STOPPED for p in pids)
        emu.proc.send_signal(sig)
        assert emu.proc.wait(10) == 0
        assert gone(pids + [emu.proc.pid])
    finally:
        emu.stop()


def test_killed_emulator_takes_its_environments_along(tmp_path):
    emu = EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path).start()
    try:
        pids = _start_environments(emu)
        os.kill(emu.proc.pid, signal.SIGKILL)
        emu.proc.wait(10)
        assert gone(pids)
    finally:
        emu.stop()


def test_idle_environments_are_reaped(tmp_path):
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path, extra_args=["--idle-timeout-s", "0.5"]) as emu:
        pids = _start_environments(emu)
        assert gone(pids, timeout_s=10)
        assert emu.environments() == []


def test_log_stream_file_per_environment(tmp_path):
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path) as emu:
        client = lambda_client(emu.url)
        client.invoke(FunctionName="echo", Payload=b'{"k": 1}')
        env = [e for e in emu.environments() if e["function"] == "echo"][0]
        text = open(env["log_file"]).read()
        assert "START RequestId:" in text and "echo {'k': 1}" in text and "REPORT RequestId:" in text


def test_functions_get_placeholder_credentials_unless_asked(tmp_path):
    caller = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLECALLER", "AWS_SECRET_ACCESS_KEY": "caller-secret"}
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path, env=caller) as emu:
        body = json.loads(lambda_client(emu.url).invoke(FunctionName="echo")["Payload"].read())
        assert body["access_key_id"] == "heartbench"
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path, env=caller, extra_args=["--pass-credentials"]) as emu:
        body = json.loads(lambda_client(emu.url).invoke(FunctionName="echo")["Payload"].read())
        assert body["access_key_id"] == "AKIAEXAMPLECALLER"


def test_dynamodb_flag_starts_the_embedded_server_for_the_functions(tmp_path):
    import boto3
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path, extra_args=["--dynamodb"]) as emu:
        body = json.loads(lambda_client(emu.url).invoke(FunctionName="echo")["Payload"].read())
        endpoint = body["dynamodb"]
        assert endpoint.startswith("http://127.0.0.1:")
        tables = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x").list_tables()["TableNames"]
        assert "ServiceHeartbeats" in tables
    assert any("embedded DynamoDB at" in line for line in emu.output)


def test_a_cold_start_that_cannot_start_answers_500_and_frees_its_slot(tmp_path):
    from botocore.exceptions import ClientError
    (tmp_path / "crash").write_text("a file where the function's log directory would go")
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path) as emu:
        client = lambda_client(emu.url)
        for _ in range(2):  # reserved concurrency 1: a leaked slot would make the second one a 429
            with pytest.raises(ClientError) as err:
                client.invoke(FunctionName="crash", Payload=b"{}")
            assert err.value.response["Error"]["Code"] == "ServiceException"
            assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
            assert err.value.response["Error"]["Message"].startswith("cannot start an execution environment")
        assert emu.environments() == []
        assert json.loads(client.invoke(FunctionName="echo")["Payload"].read())["function"] == "echo"


def test_processes_started_by_a_crashed_runtime_do_not_survive_it(tmp_path):
    pidfile = tmp_path / "child.pid"
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path) as emu:
        response = lambda_client(emu.url).invoke(FunctionName="spawner",
                                                 Payload=json.dumps({"pidfile": str(pidfile)}))
        assert json.loads(response["Payload"].read())["errorType"] == "Runtime.ExitError"
        assert gone([int(pidfile.read_text())])


def test_stopping_answers_the_invocation_in_flight(tmp_path):
    import threading
    outcome = {}
    emu = EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path).start()
    try:
        client = lambda_client(emu.url)

        def call():
            response = client.invoke(FunctionName="slow", Payload=b'{"sleep_s": 20}')
            outcome["body"] = json.loads(response["Payload"].read())
            outcome["error"] = response.get("FunctionError")

        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 10
        while not any(e["state"] == "INVOKING" for e in emu.environments()):
            assert time.monotonic() < deadline, "the invocation never started"
            time.sleep(0.02)
        started = time.monotonic()
        emu.proc.send_signal(signal.SIGTERM)
        caller.join(15)
        assert time.monotonic() - started < 5
        assert outcome["error"] == "Unhandled"
        assert outcome["body"]["errorMessage"] == "Emulator shut down during the invocation"
    finally:
        emu.stop()
