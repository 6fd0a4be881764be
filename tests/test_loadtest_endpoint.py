"""The load test against an endpoint URL it did not start: the same client code path as for AWS,
pointed at a `heartbench emulator` that the test runs itself, with its own DynamoDB server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from analysis.rundir import load_run
from heartbench.emulator.process import EmulatorProcess
from heartbench.store import DynamoServer, ensure_tables

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "handlers" / "functions.toml"


def test_endpoint_target_starts_nothing_and_records_the_run(tmp_path):
    with DynamoServer(log_path=tmp_path / "dynamodb.log") as dynamo:
        ensure_tables(dynamo.endpoint_url)
        with EmulatorProcess(CATALOG, log_dir=tmp_path / "logs",
                             extra_args=["--env", f"AWS_ENDPOINT_URL_DYNAMODB={dynamo.endpoint_url}"]) as emu:
            done = subprocess.run(
                [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "heartbeat.py"), "--headless",
                 "-u", "2", "-r", "2", "-t", "8s", "--hb-target", emu.url, "--hb-functions", "ticker",
                 "--hb-dynamodb-endpoint", dynamo.endpoint_url, "--hb-report-dir", str(tmp_path / "reports"),
                 "--hb-run-id", "run", "--hb-no-report", "--hb-pace-s", "0.5"],
                cwd=REPO, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
            assert done.returncode == 0, done.stderr[-2000:]
            served = {e["function"]: e["invocations"] for e in emu.environments()}
    run_dir = tmp_path / "reports" / "run"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["config"]["target"] == emu.url
    assert [f["function"] for f in info["functions"]] == ["ticker-leaky", "ticker-fixed"]
    run = load_run(run_dir)
    ok = [r for r in run.invocations if r["status"] == "ok"]
    assert {r["function"] for r in ok} == {"ticker-leaky", "ticker-fixed"}
    assert all(r["threads"] is not None and r["env_id"] for r in ok)   # in-band telemetry came through
    assert {s["function"] for s in run.samples} == {"ticker-leaky", "ticker-fixed"}  # loopback: sampled
    assert sum(served.values()) >= len(ok)                               # our emulator served them
    assert not (run_dir / "logs").exists()                               # no emulator of its own
