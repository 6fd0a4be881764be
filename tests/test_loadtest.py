"""The main job end to end: real `locust -f loadtests/heartbeat.py` processes and a real emulator.

Locust is only ever imported in those child processes (importing it monkey-patches gevent).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from analysis.rundir import load_run

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "loadtests" / "heartbeat.py"
CATALOG = REPO / "handlers" / "functions.toml"
RUN_TIMEOUT_S = 180


def locust_cmd(report_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--hb-report-dir",
            str(report_dir), "--hb-run-id", "run", *args]


def run_locust(report_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(locust_cmd(report_dir, *args), cwd=REPO, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)


def catalog_pairs() -> dict[str, set[str]]:
    import tomllib
    pairs: dict[str, set[str]] = {}
    for name, f in tomllib.loads(CATALOG.read_text())["functions"].items():
        if f.get("variant") in ("leaky", "fixed"):
            pairs.setdefault(f["pair"], set()).add(name)
    return pairs


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def count_lines(path: Path) -> int:
    try:
        return path.read_text().count("\n")
    except FileNotFoundError:
        return 0


def assert_every_pair_has_both_variants(run) -> None:
    functions_seen = {r["function"] for r in run.invocations if r["status"] == "ok"}
    sampled = {r["function"] for r in run.samples}
    for pair, members in catalog_pairs().items():
        missing = members - functions_seen
        assert not missing, f"pair {pair}: no ok invocation of {missing}"
        assert members <= sampled, f"pair {pair}: no sample of {members - sampled}"


@pytest.fixture(scope="module")
def headless_run(tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("reports")
    done = run_locust(report_dir, "--headless", "-u", "10", "-r", "10", "-t", "20s")
    return report_dir / "run", done


def test_headless_run_writes_a_complete_run_directory(headless_run):
    path, done = headless_run
    assert done.returncode in (0, 1, 2, 3), done.stderr[-3000:]
    run = load_run(path)
    info = run.run
    assert info["ended_utc"] is not None and info["interrupted"] is False
    assert info["config"]["target"] == "emulator" and info["config"]["users"] == 10
    assert info["config"]["endpoint_url"].startswith("http://127.0.0.1:")
    assert {f["function"] for f in info["functions"]} == set().union(*catalog_pairs().values())
    assert_every_pair_has_both_variants(run)
    telemetry = [r for r in run.invocations if r["threads"] is not None]
    assert len(telemetry) >= 0.9 * len(run.invocations)  # the in-band EMF line arrived
    cold = [r for r in run.invocations if r["cold_start"]]
    assert cold and all(r["init_duration_ms"] is not None for r in cold)
    assert info["invocations_recorded"] == len(run.invocations) >= 100
    assert info["sampler_overhead"]["samples"] == len(run.samples) > 0
    fixed = info["heartbeats"]["ticker-fixed"]
    assert fixed["delivered"] == fixed["invocations_ok"] > 0  # one heartbeat per invocation
    for name in ("locust.html", "locust_stats.csv", "locust_failures.csv"):
        assert (path / name).stat().st_size > 0, name
    with open(path / "locust_stats.csv") as f:
        stats = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(stats["Aggregated"]["Request Count"]) == len(run.invocations)
    assert "initial / peak / +increase" in done.stdout


@pytest.mark.skipif(importlib.util.find_spec("heartbench.commands.gate") is None,
                    reason="heartbench gate not available yet")
def test_headless_exit_code_follows_the_gate(headless_run):
    path, done = headless_run
    assert (path / "report.html").is_file()
    gate = subprocess.run([sys.executable, "-m", "heartbench", "gate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == gate.returncode, (done.stderr[-2000:], gate.stdout, gate.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    except OSError:
        return None


def test_distributed_two_processes_with_web_ui_tab(tmp_path):
    """--processes 2: the master owns the run directory, workers send rows; the UI tab is live."""
    port = free_port()
    cmd = locust_cmd(tmp_path, "--processes", "2", "--autostart", "--autoquit", "0", "-u", "10",
                     "-r", "10", "-t", "15s", "--web-host", "127.0.0.1", "--web-port", str(port))
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, stdin=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        live = wait_for(lambda: (d := get_json(f"{base}/heartbench/live.json")) and
                        sum(r["invocations"] for r in d["rows"]) >= 10 and d, 60, "live rows")
        assert {r["function"] for r in live["rows"]} == set().union(*catalog_pairs().values())
        stats = get_json(f"{base}/stats/requests")
        tab = [e for e in stats["extended_stats"] if e["key"] == "heartbench"]
        assert tab and tab[0]["data"][0]["function"] == "ticker-leaky"
        with urllib.request.urlopen(f"{base}/heartbench", timeout=5) as r:
            assert b"Heartbeat leaks, live" in r.read()
        output, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "2 workers connected" in output
    run = load_run(tmp_path / "run")
    assert run.run["config"]["role"] == "master" and run.run["ended_utc"] is not None
    assert_every_pair_has_both_variants(run)
    assert run.run["invocations_recorded"] == len(run.invocations) >= 100


def test_ctrl_c_mid_run_leaves_a_usable_run_directory_and_no_process(tmp_path):
    proc = subprocess.Popen(locust_cmd(tmp_path, "--headless", "-u", "10", "-r", "10", "-t", "60s"),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        invocations = tmp_path / "run" / "invocations.jsonl"
        wait_for(lambda: count_lines(invocations) >= 20, 60, "20 invocation rows")
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert len(descendants) >= 3  # DynamoDB, emulator, environments
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], alive
    run = load_run(tmp_path / "run")
    assert run.run["ended_utc"] is not None and run.run["interrupted"] is True
    assert len(run.invocations) == run.run["invocations_recorded"] >= 20
    # calls failing while the emulator stops are not recorded as if the functions had failed
    assert not [r for r in run.invocations if r["error_type"] == "EndpointConnectionError"]
    assert "(interrupted)" in output and "heartbench report" in output


SUBJECTS = textwrap.dedent("""
    import time

    def slow(event, context):
        time.sleep(0.4)
        return {"ok": True}

    def sleepy(event, context):
        time.sleep(5)

    def hog(event, context):
        blocks = [bytearray(16 * 2**20) for _ in range(24)]  # 384 MiB, over 128 MB
        time.sleep(5)
        return len(blocks)
""")
ERROR_CATALOG = textwrap.dedent("""
    [functions.slow-fixed]
    handler = "subjects.slow"
    code = "."
    timeout_s = 3
    reserved_concurrency = 1
    pair = "slow"
    variant = "fixed"

    [functions.sleepy-leaky]
    handler = "subjects.sleepy"
    code = "."
    timeout_s = 1
    reserved_concurrency = 2
    pair = "slow"
    variant = "leaky"

    [functions.hog-leaky]
    handler = "subjects.hog"
    code = "."
    memory_mb = 128
    timeout_s = 10
    pair = "hog"
    variant = "leaky"
""")


def test_throttles_timeouts_and_oom_are_named_and_counted_apart(tmp_path):
    (tmp_path / "subjects.py").write_text(SUBJECTS)
    (tmp_path / "functions.toml").write_text(ERROR_CATALOG)
    # users 0, 3 -> slow-fixed (two callers, concurrency 1); 1, 4 -> sleepy-leaky; 2, 5 -> hog-leaky
    done = run_locust(tmp_path, "--headless", "-u", "6", "-r", "6", "-t", "6s", "--hb-config",
                      str(tmp_path / "functions.toml"), "--hb-pace-s", "0.05", "--hb-no-report")
    assert done.returncode == 1, done.stderr[-3000:]  # Locust's own: there were failures
    run = load_run(tmp_path / "run")
    slow = run.invocations_of("slow-fixed")
    throttled = [r for r in slow if r["status"] == "throttled"]
    assert throttled and {r["error_type"] for r in throttled} == {"TooManyRequestsException"}
    assert any(r["status"] == "ok" and r["duration_ms"] >= 400 for r in slow)
    sleepy = run.invocations_of("sleepy-leaky")
    timed_out = [r for r in sleepy if r["status"] == "error"]
    assert timed_out and {r["error_type"] for r in timed_out} == {"Sandbox.Timedout"}
    hog = run.invocations_of("hog-leaky")
    assert hog and {r["error_type"] for r in hog} == {"Runtime.OutOfMemory"}
    assert all(r["threads"] is None for r in run.invocations)  # no telemetry in these handlers
    with open(tmp_path / "run" / "locust_stats.csv") as f:
        types = {(row["Type"], row["Name"]) for row in csv.DictReader(f)}
    assert ("throttled", "slow-fixed") in types and ("invoke", "slow-fixed") in types
    failures = (tmp_path / "run" / "locust_failures.csv").read_text()
    assert "FunctionError('Sandbox.Timedout')" in failures
    assert "Throttled('TooManyRequestsException')" in failures
    assert "FunctionError('Runtime.OutOfMemory')" in failures
