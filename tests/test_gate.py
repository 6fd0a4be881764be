"""`heartbench gate`: exit codes and messages, asserted exactly, on copies of the recorded run
(tests/data/recorded_run) changed so that a fixed variant leaks, a leaky one does not, or a metric
regresses against a baseline results.json."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from analysis.gate import Tolerance, parse_fail_on
from analysis.results import build_results
from analysis.rundir import load_run
from heartbench.cli import main

RECORDED = Path(__file__).parent / "data" / "recorded_run"
HEAD = "heartbench gate: run 20241204T140000Z, 10 variants, "
METRICS = ("threads_slope, tasks_slope, rss_slope, fds_slope, p50_ms, p99_ms, error_rate, "
           "throttle_rate")


def changed_run(tmp_path: Path, change=None) -> Path:
    """A copy of the recorded run; `change(row)` edits invocation rows in place."""
    run_dir = Path(shutil.copytree(RECORDED, tmp_path / "run"))
    if change:
        path = run_dir / "invocations.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            change(row)
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return run_dir


def fixed_ticker_leaks_threads(row):
    """ticker-fixed gains exactly one thread per invocation: +1000 threads per 1k invocations."""
    if row["function"] == "ticker-fixed" and row["threads"] is not None:
        row["threads"] = 1 + row["env_invocation"]


def leaky_ticker_stays_flat(row):
    """ticker-leaky keeps every signal constant: nothing for the detector to find."""
    if row["function"] == "ticker-leaky" and row["threads"] is not None:
        row.update(threads=2, tasks=0, rss_bytes=48 * 2**20, fds=8)


def client_leaks_faster(row):
    """client-leaky grows by exactly 256 KiB per invocation."""
    if row["function"] == "client-leaky" and row["rss_bytes"] is not None:
        row["rss_bytes"] = 46 * 2**20 + 256 * 1024 * row["env_invocation"]


def baseline_file(tmp_path: Path, **metric_changes) -> Path:
    """results.json of the recorded run, with {function: {metric: value}} changed."""
    results = build_results(load_run(RECORDED))
    for function, metrics in metric_changes.items():
        results["variants"][function.replace("_", "-")]["metrics"].update(metrics)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(results))
    return path


def test_gate_passes_the_recorded_run_and_writes_junit(tmp_path, capsys):
    run_dir = changed_run(tmp_path)
    assert main(["gate", str(run_dir)]) == 0
    out = capsys.readouterr()
    assert out.out == HEAD + "20 checks: all passed\n"
    assert out.err == ""
    suites = ET.parse(run_dir / "gate-junit.xml").getroot()
    cases = suites.findall("./testsuite/testcase")
    assert len(cases) == 20 and suites.get("failures") == "0"
    assert [(c.get("classname"), c.get("name")) for c in cases[:4]] == [
        ("ticker-leaky", "has data"), ("ticker-leaky", "leaky variant is detected"),
        ("ticker-fixed", "has data"), ("ticker-fixed", "fixed variant does not leak")]


def test_gate_fails_when_a_fixed_variant_leaks(tmp_path, capsys):
    run_dir = changed_run(tmp_path, fixed_ticker_leaks_threads)
    junit = tmp_path / "gate.xml"
    assert main(["gate", str(run_dir), "--junit", str(junit)]) == 1
    message = ("ticker-fixed: fixed variant leaks threads: +1000.0 threads per 1k invocations "
               "(95% CI 1000.0..1000.0)")
    assert capsys.readouterr().out == HEAD + f"20 checks: 1 failed\nFAIL {message}\n"
    failures = ET.parse(junit).getroot().findall("./testsuite/testcase/failure")
    assert [f.get("message") for f in failures] == [message]
    assert not (run_dir / "gate-junit.xml").exists()


def test_gate_fails_when_a_leaky_variant_is_not_detected(tmp_path, capsys):
    run_dir = changed_run(tmp_path, leaky_ticker_stays_flat)
    assert main(["gate", str(run_dir)]) == 1
    assert capsys.readouterr().out == HEAD + (
        "20 checks: 1 failed\n"
        "FAIL ticker-leaky: leaky variant not detected: verdict no-leak (threads no-leak, "
        "tasks no-leak, rss no-leak, fds no-leak), error rate 0.0% vs 0.0% for ticker-fixed; "
        "is the detector broken?\n")


def test_gate_reports_every_failure_then_exits_once(tmp_path, capsys, monkeypatch):
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run_dir = changed_run(tmp_path, lambda row: (fixed_ticker_leaks_threads(row),
                                                 leaky_ticker_stays_flat(row)))
    assert main(["gate", str(run_dir)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == HEAD + "20 checks: 2 failed"
    assert [line.split(":")[0] for line in lines[1:]] == ["FAIL ticker-leaky", "FAIL ticker-fixed"]
    text = summary.read_text()
    assert text.startswith("earlier step\n## heartbench gate failed: run 20241204T140000Z\n")
    assert "Gate: **failed**, 2 of 20 checks:" in text
    assert f"- {lines[2][len('FAIL '):]}\n" in text
    assert "| ticker | ticker-fixed | **leak** UNEXPECTED (expected no leak) |" in text


def test_gate_fails_on_regressions_against_a_baseline(tmp_path, capsys):
    run_dir = changed_run(tmp_path, client_leaks_faster)
    baseline = baseline_file(tmp_path, client_leaky={"rss_slope": 200.0},
                             ticker_fixed={"p99_ms": 30.0},
                             conditional_write_leaky={"error_rate": 0.5})
    code = main(["gate", str(run_dir), "--baseline", str(baseline), "--fail-on", "rss_slope:10%",
                 "--fail-on", "p99_ms:20%", "--fail-on", "error_rate:0.1"])
    assert code == 1
    assert capsys.readouterr().out == HEAD + (
        "50 checks: 3 failed\n"
        "FAIL ticker-fixed: p99_ms regressed: 42.2 ms vs baseline 30.0 ms, limit 36.0 ms (+20%)\n"
        "FAIL client-leaky: rss_slope regressed: +256.0 KiB per invocation (95% CI 256.0..256.0) "
        "vs baseline +200.0 KiB per invocation, limit +220.0 (+10%)\n"
        "FAIL conditional-write-leaky: error_rate regressed: 0.660 vs baseline 0.500, "
        "limit 0.600 (+0.1)\n")


def test_gate_passes_a_run_compared_with_itself(tmp_path, capsys):
    """Also: a fixed variant's slope under the effect-size floor is noise, never a regression."""
    run_dir = changed_run(tmp_path)
    baseline = baseline_file(tmp_path, ticker_fixed={"rss_slope": -50.0})
    assert main(["gate", str(run_dir), "--baseline", str(baseline), "--fail-on", "rss_slope:10%",
                 "--fail-on", "p99_ms:0%"]) == 0
    assert capsys.readouterr().out == HEAD + "40 checks: all passed\n"


def test_gate_warns_when_the_baseline_comes_from_another_machine(tmp_path, capsys):
    run_dir = changed_run(tmp_path)
    baseline = baseline_file(tmp_path)
    results = json.loads(baseline.read_text())
    results["run"]["machine"]["hostname"] = "ci-runner-2"      # same kind of machine: no warning
    baseline.write_text(json.dumps(results))
    assert main(["gate", str(run_dir), "--baseline", str(baseline)]) == 0
    assert capsys.readouterr().err == ""
    results["run"]["machine"].update(hostname="laptop", cpu_count=8, memory_bytes=16 * 2**30)
    baseline.write_text(json.dumps(results))
    assert main(["gate", str(run_dir), "--baseline", str(baseline)]) == 0
    assert capsys.readouterr().err == (
        "heartbench gate: warning: baseline run 20241204T140000Z was recorded on another machine "
        "(laptop, 8 CPUs, 16.0 GiB) than this run (ci-runner-1, 2 CPUs, 8.0 GiB); "
        "comparisons may not hold\n")


@pytest.mark.parametrize("args, message", [
    (["--fail-on", "rss_slope"],
     "invalid --fail-on value 'rss_slope': expected METRIC:TOLERANCE such as rss_slope:10% "
     "or error_rate:0.01"),
    (["--fail-on", "rss:10%"],
     f"invalid --fail-on value 'rss:10%': unknown metric 'rss' (did you mean rss_slope?); "
     f"metrics: {METRICS}"),
    (["--fail-on", "p99:10%"],
     f"invalid --fail-on value 'p99:10%': unknown metric 'p99' (did you mean p99_ms?); "
     f"metrics: {METRICS}"),
    (["--fail-on", "rss_slope:ten%"],
     "invalid --fail-on value 'rss_slope:ten%': tolerance 'ten%' is not a number or a "
     "percentage such as 10%"),
    (["--fail-on", "p99_ms:20%%"],
     "invalid --fail-on value 'p99_ms:20%%': tolerance '20%%' is not a number or a "
     "percentage such as 10%"),
    (["--fail-on", "p99_ms:-5%"],
     "invalid --fail-on value 'p99_ms:-5%': tolerance '-5%' must not be negative"),
    (["--fail-on", "rss_slope:10%"],
     "--fail-on rss_slope:10% needs --baseline FILE to compare against"),
    (["--baseline", "{tmp}/missing.json"], "baseline {tmp}/missing.json: no such file"),
    (["--baseline", "{run}/run.json"],
     "baseline {run}/run.json: not a heartbench results.json (write one with `heartbench report`)"),
])
def test_gate_usage_errors_exit_2_naming_the_value(tmp_path, capsys, args, message):
    run_dir = changed_run(tmp_path)
    args = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    assert main(["gate", str(run_dir), *args]) == 2
    out = capsys.readouterr()
    assert out.err == f"heartbench gate: error: {message.format(tmp=tmp_path, run=run_dir)}\n"
    assert out.out == ""


def test_gate_on_a_missing_run_directory_exits_2(tmp_path, capsys):
    assert main(["gate", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == (f"heartbench gate: error: {tmp_path}/nope: "
                                       f"no such run directory\n")


def test_gate_fails_a_variant_without_invocations(tmp_path, capsys):
    run_dir = changed_run(tmp_path)
    path = run_dir / "invocations.jsonl"
    rows = [line for line in path.read_text().splitlines() if '"asyncio-fixed"' not in line]
    path.write_text("\n".join(rows) + "\n")
    assert main(["gate", str(run_dir)]) == 1
    assert capsys.readouterr().out == HEAD + "20 checks: 1 failed\nFAIL asyncio-fixed: no invocations recorded\n"


@pytest.mark.parametrize("text, expected", [
    ("rss_slope:10%", Tolerance("rss_slope", 10.0, True, "rss_slope:10%")),
    ("threads_slope:5%", Tolerance("threads_slope", 5.0, True, "threads_slope:5%")),
    ("error_rate:0.01", Tolerance("error_rate", 0.01, False, "error_rate:0.01")),
    (" p99_ms : 20% ", Tolerance("p99_ms", 20.0, True, " p99_ms : 20% ")),
])
def test_parse_fail_on(text, expected):
    assert parse_fail_on(text) == expected


def test_tolerance_limits_are_relative_to_the_size_of_the_baseline():
    assert parse_fail_on("rss_slope:10%").limit(200.0) == pytest.approx(220.0)
    assert parse_fail_on("rss_slope:10%").limit(-2.0) == pytest.approx(-1.8)
    assert parse_fail_on("error_rate:0.01").limit(0.05) == pytest.approx(0.06)


def test_gate_warns_about_an_interrupted_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(RECORDED, run_dir)
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "interrupted": True}))
    main(["gate", str(run_dir)])
    assert ("heartbench gate: warning: the run was interrupted before its planned end: the verdicts "
            "rest on what was recorded until then") in capsys.readouterr().err.splitlines()
