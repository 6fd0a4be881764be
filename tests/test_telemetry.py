"""The in-band telemetry shim: EMF format, probes, decorator, and the exec wrapper in a real process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import heartbench.telemetry as telemetry
from heartbench.telemetry import emf, loops, probes, shim

EXEC_WRAPPER = Path(telemetry.__file__).parent / "exec_wrapper.sh"
ENV_ID = "0123456789abcdef0123456789abcdef"


class FakeContext:
    def __init__(self, request_id="req-1"):
        self.aws_request_id = request_id


@pytest.fixture
def lambda_env(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ticker-leaky")
    monkeypatch.setenv("AWS_LAMBDA_LOG_STREAM_NAME", f"2024/01/02/[$LATEST]{ENV_ID}")
    monkeypatch.setenv("HEARTBENCH_VARIANT", "leaky")
    monkeypatch.setenv("HEARTBENCH_PAIR", "ticker")
    monkeypatch.delenv("HEARTBENCH_GC_OBJECTS", raising=False)


def emitted(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_emf_record_matches_the_design_key_by_key(lambda_env):
    before_ms = int(time.time() * 1000)
    record = shim.snapshot(invocation=1, request_id="req-7")
    after_ms = int(time.time() * 1000)

    meta = record["_aws"]
    assert set(meta) == {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(meta["Timestamp"], int) and before_ms <= meta["Timestamp"] <= after_ms
    assert len(meta["CloudWatchMetrics"]) == 1
    directive = meta["CloudWatchMetrics"][0]
    assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
    assert directive["Namespace"] == "Heartbench"
    assert directive["Dimensions"] == [["function", "variant"]]
    assert directive["Metrics"] == [
        {"Name": "Threads", "Unit": "Count"}, {"Name": "Tasks", "Unit": "Count"},
        {"Name": "RSS", "Unit": "Bytes"}, {"Name": "FDs", "Unit": "Count"},
        {"Name": "GCObjects", "Unit": "Count"}, {"Name": "Heartbeats", "Unit": "Count"}]
    # every dimension and metric named in the directive is a root key
    for name in directive["Dimensions"][0] + [m["Name"] for m in directive["Metrics"]]:
        assert name in record, name
    assert record["function"] == "ticker-leaky"
    assert record["variant"] == "leaky"
    assert record["pair"] == "ticker"
    assert record["env_id"] == ENV_ID
    assert record["cold_start"] is True
    assert record["invocation"] == 1
    assert record["request_id"] == "req-7"
    for name in ("Threads", "Tasks", "RSS", "FDs", "GCObjects", "Heartbeats", "os_threads"):
        assert isinstance(record[name], int) and record[name] >= 0, name
    assert record["Threads"] >= 1 and record["RSS"] > 1_000_000 and record["GCObjects"] > 1000
    assert set(record) == {"_aws", "function", "variant", "pair", "env_id", "cold_start",
                           "invocation", "request_id", "Threads", "Tasks", "RSS", "FDs",
                           "GCObjects", "Heartbeats", "os_threads"}
    # one compact line, and it parses back to the same object
    text = emf.line(record)
    assert "\n" not in text and json.loads(text) == record


def test_labels_fall_back_to_unknown_outside_lambda(monkeypatch):
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "HEARTBENCH_VARIANT",
                 "HEARTBENCH_PAIR"):
        monkeypatch.delenv(name, raising=False)
    record = shim.snapshot(invocation=2, request_id=None)
    assert (record["function"], record["variant"], record["pair"], record["env_id"]) == \
        ("unknown", "unknown", "unknown", "unknown")
    assert record["cold_start"] is False and record["request_id"] is None


def test_emf_record_refuses_a_missing_metric():
    with pytest.raises(ValueError, match="EMF record lacks Heartbeats"):
        emf.record(0, {"function": "f", "variant": "v"},
                   {"Threads": 1, "Tasks": 0, "RSS": 1, "FDs": 1, "GCObjects": 1}, {})


def test_decorator_emits_one_line_per_invocation_and_on_exception(lambda_env, capsys):
    calls = []

    @telemetry.instrument
    def handler(event, context):
        calls.append(event)
        if event.get("fail"):
            raise KeyError("boom")
        return {"ok": True}

    assert handler({}, FakeContext("a")) == {"ok": True}
    with pytest.raises(KeyError, match="boom"):
        handler({"fail": True}, FakeContext("b"))
    records = emitted(capsys)
    assert len(records) == 2 and len(calls) == 2
    assert [r["request_id"] for r in records] == ["a", "b"]
    assert records[1]["invocation"] == records[0]["invocation"] + 1
    assert all(emf.is_heartbench_record(r) for r in records)
    assert telemetry.instrument(handler) is handler  # no second line from a second decoration


def test_a_failing_probe_does_not_fail_the_invocation(lambda_env, capsys, monkeypatch):
    def broken():
        raise OSError("no /proc")

    monkeypatch.setattr(probes, "fds", broken)
    handler = telemetry.instrument(lambda event, context: "done")
    assert handler({}, FakeContext()) == "done"
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "heartbench telemetry: no EMF line for invocation" in captured.err
    assert "OSError: no /proc" in captured.err


def test_heartbeats_are_counted_from_every_thread():
    before = telemetry.heartbeats()
    workers = [threading.Thread(target=lambda: [telemetry.record_heartbeat() for _ in range(500)])
               for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert telemetry.heartbeats() - before == 2000


def test_pending_tasks_are_summed_over_every_loop():
    loops.install()
    baseline = probes.tasks()
    main_loop = asyncio.new_event_loop()
    thread_loop = asyncio.new_event_loop()
    started = threading.Event()

    def run_thread_loop():
        thread_loop.call_soon(started.set)
        thread_loop.run_forever()
        pending = asyncio.all_tasks(thread_loop)
        for task in pending:
            task.cancel()
        thread_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    runner = threading.Thread(target=run_thread_loop)
    runner.start()
    try:
        assert started.wait(10)
        never = [main_loop.create_task(asyncio.sleep(3600)) for _ in range(2)]
        done = main_loop.create_task(asyncio.sleep(0))
        main_loop.run_until_complete(done)  # a finished task is not pending
        for _ in range(3):
            asyncio.run_coroutine_threadsafe(asyncio.sleep(3600), thread_loop)
        deadline = time.monotonic() + 10
        while probes.tasks() - baseline < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert probes.tasks() - baseline == 5
        for task in never:
            task.cancel()
        main_loop.run_until_complete(asyncio.gather(*never, return_exceptions=True))
        assert probes.tasks() - baseline == 3
    finally:
        thread_loop.call_soon_threadsafe(thread_loop.stop)
        runner.join(10)
        thread_loop.close()
        main_loop.close()
    assert probes.tasks() == baseline  # closed loops are not counted


def test_loops_created_before_tracking_started_are_found(tmp_path):
    script = textwrap.dedent("""
        import asyncio
        early = asyncio.new_event_loop()
        early.create_task(asyncio.sleep(3600))
        from heartbench.telemetry import loops, probes
        loops.install()
        late = asyncio.new_event_loop()
        late.create_task(asyncio.sleep(3600))
        print(probes.tasks())
        early.close(); late.close()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "2"


def test_threads_fds_and_gc_probes_follow_the_process(monkeypatch):
    release = threading.Event()
    threads_before, fds_before = probes.threads(), probes.fds()
    worker = threading.Thread(target=release.wait, args=(10,))
    worker.start()
    try:
        with open(os.devnull) as f1, open(os.devnull) as f2:  # noqa: F841
            assert probes.fds() == fds_before + 2
        assert probes.threads() == threads_before + 1
        assert probes.os_threads() >= probes.threads()
    finally:
        release.set()
        worker.join(10)
    assert probes.threads() == threads_before
    monkeypatch.setenv("HEARTBENCH_GC_OBJECTS", "0")
    assert probes.gc_objects() is None


def test_find_records_picks_our_lines_out_of_a_log():
    record = emf.record(1, {"function": "f", "variant": "fixed"},
                        {"Threads": 1, "Tasks": 0, "RSS": 2, "FDs": 3, "GCObjects": 4,
                         "Heartbeats": 5}, {"invocation": 9})
    other_emf = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "Other"}]}}
    log = "\n".join(["START RequestId: x Version: $LATEST", "{not json", json.dumps(other_emf),
                     "  " + emf.line(record), "END RequestId: x"])
    assert emf.find_records(log) == [record]


# --- the exec wrapper, in a real process, around a module it did not import itself -------------

PLAIN_HANDLER = '''
"""A handler that knows nothing of heartbench."""
import asyncio

_loop = asyncio.new_event_loop()          # created at import, before any invocation
_loop.create_task(asyncio.sleep(3600))    # one pending task from the start

def handler(event, context):
    _loop.create_task(asyncio.sleep(3600))
    if event.get("fail"):
        raise RuntimeError("plain handler failed")
    return {"echo": event}
'''

# What a runtime does: read _HANDLER, import it, call it (here with a fake context).
FAKE_RUNTIME = '''
import importlib, json, os, sys
assert "plain_handler" not in sys.modules
module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
handler = getattr(importlib.import_module(module_name), function_name)
class Context:
    aws_request_id = "req"
for event in ({"n": 1}, {"fail": True}, {"n": 3}):
    try:
        print("RESULT", json.dumps(handler(event, Context())), flush=True)
    except RuntimeError as e:
        print("RAISED", e, flush=True)
print("HANDLER_ENV", os.environ["_HANDLER"], os.environ["HEARTBENCH_ORIGINAL_HANDLER"], flush=True)
'''


def run_wrapped(tmp_path, handler_spec="plain_handler.handler"):
    (tmp_path / "plain_handler.py").write_text(PLAIN_HANDLER)
    env = {**os.environ, "_HANDLER": handler_spec, "PYTHONPATH": str(tmp_path),
           "AWS_LAMBDA_FUNCTION_NAME": "plain", "HEARTBENCH_VARIANT": "fixed",
           "AWS_LAMBDA_LOG_STREAM_NAME": f"2024/01/02/[$LATEST]{ENV_ID}"}
    env.pop("HEARTBENCH_ORIGINAL_HANDLER", None)
    return subprocess.run([str(EXEC_WRAPPER), sys.executable, "-c", FAKE_RUNTIME], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_exec_wrapper_measures_a_handler_it_did_not_import(tmp_path):
    proc = run_wrapped(tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    records = emf.find_records(proc.stdout)
    assert [r["invocation"] for r in records] == [1, 2, 3]
    assert [r["cold_start"] for r in records] == [True, False, False]
    assert {(r["function"], r["variant"], r["env_id"]) for r in records} == \
        {("plain", "fixed", ENV_ID)}
    # the loop the module made at import is tracked: 1 task from import + 1 per invocation
    assert [r["Tasks"] for r in records] == [2, 3, 4]
    # the handler's own results and its exception pass through unchanged, each followed by the line
    kinds = [line.split()[0] if not line.startswith("{") else "EMF" for line in lines]
    assert kinds == ["EMF", "RESULT", "EMF", "RAISED", "EMF", "RESULT", "HANDLER_ENV"]
    assert lines[1] == 'RESULT {"echo": {"n": 1}}'
    assert lines[3] == "RAISED plain handler failed"
    assert lines[6] == "HANDLER_ENV heartbench.telemetry.wrapper.handler plain_handler.handler"


def test_exec_wrapper_reports_a_missing_handler_at_import(tmp_path):
    proc = run_wrapped(tmp_path, "plain_handler.nope")
    assert proc.returncode != 0
    assert "AttributeError: Handler 'nope' missing on module 'plain_handler'" in proc.stderr
