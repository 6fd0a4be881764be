"""`heartbench check` and its pytest plugin on handlers written for the tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from heartbench.cli import main

SUBJECTS = Path(__file__).parent / "check_handlers" / "subjects.py"
pytest_plugins = ["pytester"]


def check_json(function: str, *extra: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "heartbench", "check", f"{SUBJECTS}:{function}", "--json",
                           *extra], capture_output=True, text=True, timeout=180)
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("function, signal", [
    ("thread_per_call", "threads"), ("slow_thread_leak", "threads"),
    ("memory_per_call", "rss"), ("fd_per_call", "fds"),
])
def test_leaky_handlers_exit_1(function, signal):
    code, result = check_json(function)
    assert code == 1, result
    assert result["verdict"] == "leak"
    assert result["signals"][signal]["verdict"] == "leak"
    assert result["signals"][signal]["slope"] > 0
    assert result["invocations"] == 300 and result["environments"] == 4


@pytest.mark.parametrize("function", ["clean", "bounded_cache"])
def test_clean_handlers_exit_0(function):
    code, result = check_json(function)
    assert code == 0, result
    assert set(result["signals"]) == {"threads", "tasks", "rss", "fds"}
    assert all(v["verdict"] == "no-leak" for v in result["signals"].values())
    assert result["signals"]["threads"]["unit"] == "threads per 1k invocations"
    assert result["signals"]["rss"]["unit"] == "KiB per invocation"


def test_human_output_names_each_signal(capsys):
    assert main(["check", f"{SUBJECTS}:clean", "--invocations", "80", "--concurrency", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "verdict: NO LEAK"
    for signal in ("threads", "tasks", "rss", "fds"):
        assert f"  {signal}" in out


@pytest.mark.parametrize("argv, message", [
    (["check", "nofile.py:handler"], "heartbench check: error: handler file 'nofile.py' does not exist"),
    (["check", "tests/test_check.py"], "heartbench check: error: target 'tests/test_check.py' must be FILE.py:FUNCTION"),
    (["check", f"{SUBJECTS}:clean", "--invocations", "30"],
     "heartbench check: error: --invocations 30 gives under 20 per environment at --concurrency 4; use at least 80"),
    (["check", f"{SUBJECTS}:missing"], f"heartbench check: error: {SUBJECTS}:missing cannot run: "
                                       "AttributeError: Handler 'missing' missing on module 'subjects'"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message


def test_pytest_plugin_marker_fails_leaky_and_passes_clean(pytester):
    pytester.makepyfile(test_user=f"""
import pytest

@pytest.mark.heartbench_no_leak("{SUBJECTS}:thread_per_call", invocations=80, concurrency=2)
def test_leaky():
    pass

@pytest.mark.heartbench_no_leak("{SUBJECTS}:clean", invocations=80, concurrency=2)
def test_clean():
    pass

def test_fixture(heartbench_check):
    result = heartbench_check("{SUBJECTS}:fd_per_call", invocations=80, concurrency=2)
    assert result.verdict.signals["fds"].verdict == "leak"
""")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2, failed=1)
    assert "Warning" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*leaks under the Lambda lifecycle (80 invocations)*", "*threads: grows*"])


def test_check_with_embedded_dynamodb_runs_the_catalog_handlers_without_errors():
    handlers = Path(__file__).parent.parent / "handlers"
    proc = subprocess.run([sys.executable, "-m", "heartbench", "check", f"{handlers}/ticker_fixed.py:handler",
                           "--dynamodb", "--invocations", "120", "--json"],
                          capture_output=True, text=True, timeout=180)
    result = json.loads(proc.stdout)
    assert proc.returncode == 0, result
    assert result["errors"] == {} and result["invocations"] == 120
