"""Benchmark (not a test): the collectors' costs, and how fast one Locust process drives Lambda.

    .venv/bin/python scripts/bench_collectors.py [--quick] [--skip-locust]

1. In-band: decode a base64 4 KB log tail and build the invocation row (REPORT + EMF parsing).
2. Out-of-band: psutil samples of real processes, half of them SIGSTOPped like frozen
   environments: CPU and wall time per sample, and the share of one core at a 1 s interval.
3. Load generator: `locust -f loadtests/heartbeat.py --headless` against the emulator with no-op
   instrumented functions and no pacing; invocations/s recorded, the Locust process's CPU time per
   invocation, and the rate one Locust process could sustain on a core of its own (1000 / that).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

from heartbench.collectors.logtail import decode_log_result, invocation_row
from heartbench.collectors.sampler import sample_process
from heartbench.emulator import logs
from heartbench.telemetry import emf

REPO = Path(__file__).resolve().parent.parent
# Like an environment process: boto3 loaded (its memory map is what /proc/PID/smaps_rollup walks).
CHILD = textwrap.dedent("""
    import threading, time, boto3
    boto3.client("dynamodb", region_name="us-east-1")
    for _ in range(4):
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
    print("ready", flush=True)
    time.sleep(600)
""")


def log_tail() -> str:
    request_id = "8f5f0b0e-7c9a-4b9e-a1d2-0c3b4a5d6e7f"
    record = emf.record(1700000000000, {"function": "ticker-leaky", "variant": "leaky"},
                        {"Threads": 12, "Tasks": 3, "RSS": 52428800, "FDs": 9, "GCObjects": 40211,
                         "Heartbeats": 2},
                        {"pair": "ticker", "env_id": "0" * 32, "cold_start": False,
                         "invocation": 17, "request_id": request_id})
    noise = "".join(f"handler log line {i} with some text in it\n" for i in range(80))
    text = (noise + logs.start_line(request_id) + emf.line(record) + "\n"
            + logs.end_line(request_id)
            + logs.report_line(request_id, 15.74, 128, 56, init_duration_ms=130.49))
    return text[-4096:]


def bench_in_band(iterations: int) -> None:
    encoded = base64.b64encode(log_tail().encode()).decode()
    start = time.process_time()
    for _ in range(iterations):
        invocation_row("ticker-leaky", "ticker", "leaky", t_s=time.time(), status="ok",
                       response_time_ms=12.3, log_text=decode_log_result(encoded))
    per_us = (time.process_time() - start) / iterations * 1e6
    print(f"in-band: {per_us:.1f} us CPU per invocation row (4 KB tail: base64 decode, "
          f"REPORT + EMF parse), {iterations} rows")


def bench_out_of_band(processes: int, rounds: int) -> None:
    children = [subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
                for _ in range(processes)]
    try:
        for child in children:
            child.stdout.readline()
        for child in children[::2]:
            os.kill(child.pid, signal.SIGSTOP)  # frozen environments
        procs = [psutil.Process(c.pid) for c in children]
        cpu_ms, wall_ms = [], []
        for _ in range(rounds):
            for proc in procs:
                c0, w0 = time.thread_time(), time.perf_counter()
                sample_process(proc)
                cpu_ms.append((time.thread_time() - c0) * 1000)
                wall_ms.append((time.perf_counter() - w0) * 1000)
        cpu = statistics.mean(cpu_ms)
        share = cpu * processes / 1000 * 100
        print(f"out-of-band: {cpu:.3f} ms CPU, {statistics.median(wall_ms):.3f} ms wall (median) "
              f"per process sample; {processes} environments ({processes // 2 + processes % 2} "
              f"frozen) every 1 s = {share:.2f}% of one core")
    finally:
        for child in children:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.wait()


NOOP = textwrap.dedent("""
    from heartbench.telemetry import instrument

    @instrument
    def handler(event, context):
        return {"ok": True}
""")


def noop_catalog(directory: Path, functions: int) -> Path:
    (directory / "noop.py").write_text(NOOP)
    tables = []
    for i in range(functions):
        variant = ("leaky", "fixed")[i % 2]
        tables.append(f'[functions.noop{i // 2}-{variant}]\nhandler = "noop.handler"\ncode = "."\n'
                      f'reserved_concurrency = 20\npair = "noop{i // 2}"\nvariant = "{variant}"\n'
                      f'[functions.noop{i // 2}-{variant}.environment]\n'
                      f'HEARTBENCH_VARIANT = "{variant}"\n')
    path = directory / "functions.toml"
    path.write_text("\n".join(tables))
    return path


def bench_locust(users: int, duration_s: int, functions: int, warmup_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="heartbench-bench-") as tmp:
        tmp = Path(tmp)
        config = noop_catalog(tmp, functions)
        cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "heartbeat.py"),
               "--headless", "-u", str(users), "-r", str(users), "-t", f"{duration_s}s",
               "--hb-config", str(config), "--hb-pace-s", "0.0001", "--hb-report-dir", str(tmp),
               "--hb-run-id", "bench", "--hb-no-report", "--only-summary"]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        locust = psutil.Process(proc.pid)
        invocations = tmp / "bench" / "invocations.jsonl"
        deadline = time.monotonic() + 120
        while not invocations.exists() or invocations.stat().st_size == 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the load test did not start")
            time.sleep(0.1)
        time.sleep(warmup_s)
        cpu0, t0 = sum(locust.cpu_times()[:2]), time.time()
        time.sleep(max(duration_s - warmup_s - 2, 1))
        cpu1, t1 = sum(locust.cpu_times()[:2]), time.time()
        proc.wait(timeout=120)
        rows = [json.loads(line) for line in invocations.read_text().splitlines()]
    window = [r for r in rows if t0 <= r["t_s"] <= t1]
    rate = len(window) / (t1 - t0)
    ok = sum(r["status"] == "ok" for r in window) / max(len(window), 1)
    cpu_ms = (cpu1 - cpu0) * 1000 / max(len(window), 1)
    p50 = statistics.median(r["response_time_ms"] for r in window) if window else float("nan")
    print(f"locust: {rate:.0f} invocations/s sustained by one Locust process ({users} users, "
          f"{functions} no-op functions, no pacing, {ok:.0%} ok, p50 {p50:.1f} ms), Locust at "
          f"{(cpu1 - cpu0) / (t1 - t0):.0%} of a core")
    print(f"locust: {cpu_ms:.2f} ms Locust CPU per invocation (boto3 + collectors + run files) "
          f"-> about {1000 / cpu_ms:.0f} invocations/s for a Locust process with a core of its own"
          f" ({os.cpu_count()} cores shared with the emulator and its environments here)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations, shorter run")
    parser.add_argument("--skip-locust", action="store_true", help="only the collector costs")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--functions", type=int, default=4)
    args = parser.parse_args()
    bench_in_band(2000 if args.quick else 20000)
    bench_out_of_band(8 if args.quick else 20, 5 if args.quick else 50)
    if not args.skip_locust:
        bench_locust(args.users, 12 if args.quick else 25, args.functions,
                     warmup_s=3 if args.quick else 6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
