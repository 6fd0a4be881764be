"""Out-of-band sampler against a real process (running, then SIGSTOPped) and a real HTTP server."""

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from heartbench.collectors.sampler import EnvironmentSampler, introspection_client, sample_process
from heartbench.rundir import SAMPLE_FIELDS

# A process with 3 extra threads and an extra open file, which prints "ready" once set up.
CHILD = """
import threading, time, sys
f = open(sys.executable, "rb")
for _ in range(3):
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def child():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def introspection(child):
    """A loopback HTTP server answering the introspection path with one environment."""
    environments = [{"id": "a" * 32, "function": "ticker-leaky", "pid": child.pid,
                     "state": "READY", "invocations": 4}]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(environments).encode()
            self.send_response(200 if self.path == "/_heartbench/environments" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", environments
    server.shutdown()
    server.server_close()


FUNCTIONS = {"ticker-leaky": {"pair": "ticker", "variant": "leaky"}}


def test_sample_process_running_and_stopped(child):
    proc = psutil.Process(child.pid)
    running = sample_process(proc)
    assert running["threads"] == 4
    assert running["fds"] >= 4  # stdin/stdout/stderr + the opened file
    assert running["rss_bytes"] > 1_000_000 and 0 < running["uss_bytes"] <= running["rss_bytes"]
    os.kill(child.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 5
        while proc.status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
            time.sleep(0.01)
        stopped = sample_process(proc)
    finally:
        os.kill(child.pid, signal.SIGCONT)
    assert stopped["proc_status"] == "stopped"
    assert stopped["threads"] == 4 and stopped["rss_bytes"] > 1_000_000


def test_tick_rows_follow_the_schema(introspection):
    url, environments = introspection
    rows = []
    sampler = EnvironmentSampler(introspection_client(url), FUNCTIONS, rows.append, interval_s=0.1)
    returned = sampler.tick(t_s=100.0)
    assert returned == rows and len(rows) == 1
    row = rows[0]
    assert set(row) == set(SAMPLE_FIELDS)
    assert row["t_s"] == 100.0 and row["pair"] == "ticker" and row["variant"] == "leaky"
    assert row["state"] == "READY" and row["invocations"] == 4 and row["threads"] == 4
    overhead = sampler.overhead()
    assert overhead["samples"] == 1 and overhead["cpu_ms_per_sample"] > 0


def test_vanished_process_is_skipped(introspection):
    url, environments = introspection
    environments.append({"id": "b" * 32, "function": "gone", "pid": 2**22 + 12345,
                         "state": "READY", "invocations": 1})
    rows = []
    EnvironmentSampler(introspection_client(url), FUNCTIONS, rows.append).tick()
    assert [r["env_id"] for r in rows] == ["a" * 32]


def test_background_sampling_until_stopped(introspection):
    url, _ = introspection
    rows = []
    sampler = EnvironmentSampler(introspection_client(url), FUNCTIONS, rows.append,
                                 interval_s=0.05).start()
    deadline = time.monotonic() + 10
    while len(rows) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    sampler.stop()
    count = len(rows)
    assert count >= 3
    time.sleep(0.2)
    assert len(rows) == count  # stopped means stopped


def test_unreachable_emulator_is_counted_not_raised():
    sampler = EnvironmentSampler(introspection_client("http://127.0.0.1:9", timeout_s=1),
                                 FUNCTIONS, lambda row: None, interval_s=0.05).start()
    deadline = time.monotonic() + 10
    while sampler.errors < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    sampler.stop()
    assert sampler.errors >= 2 and sampler.samples == 0


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval_s must be above 0, got 0"):
        EnvironmentSampler(lambda: [], {}, lambda row: None, interval_s=0)
