"""Run directory writer: run.json, flushed JSON-lines files, never overwriting a run."""

import json
import re
import subprocess
import sys

import pytest

from heartbench import __version__
from heartbench.errors import HeartbenchError
from heartbench.rundir import (
    INVOCATION_FIELDS, SAMPLE_FIELDS, SCHEMA_VERSION, RunWriter, new_run_id, utc_iso,
)

FUNCTIONS = [{"function": "ticker-leaky", "pair": "ticker", "variant": "leaky"},
             {"function": "ticker-fixed", "pair": "ticker", "variant": "fixed", "extra": 1}]
CONFIG = {"target": "emulator", "users": 2}


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_create_writes_a_self_describing_run_json(tmp_path):
    writer = RunWriter.create(tmp_path, config=CONFIG, functions=FUNCTIONS, t_s=1733320800.5)
    run = json.loads((writer.path / "run.json").read_text())
    assert writer.path == tmp_path / "20241204T140000Z"
    assert run["schema_version"] == SCHEMA_VERSION and run["tool_version"] == __version__
    assert run["run_id"] == "20241204T140000Z"
    assert run["started_utc"] == "2024-12-04T14:00:00.500Z" and run["ended_utc"] is None
    assert run["config"] == CONFIG
    assert set(run["machine"]) == {"hostname", "platform", "python", "cpu_count", "memory_bytes"}
    assert re.fullmatch(r"[0-9a-f]{40}", run["git"]["commit"])  # the tests run in a checkout
    assert isinstance(run["git"]["dirty"], bool)
    assert run["functions"][1] == {"function": "ticker-fixed", "pair": "ticker", "variant": "fixed"}
    writer.finish()


def test_rows_are_on_disk_before_close(tmp_path):
    writer = RunWriter.create(tmp_path, config=CONFIG, functions=FUNCTIONS)
    writer.append_invocation({"t_s": 1.0, "function": "ticker-leaky", "status": "ok"})
    writer.append_invocations([{"t_s": 2.0, "function": "ticker-fixed"},
                               {"t_s": 3.0, "function": "ticker-fixed"}])
    writer.append_sample({"t_s": 1.5, "function": "ticker-leaky", "env_id": "e", "pid": 1})
    invocations = read_lines(writer.path / "invocations.jsonl")  # not closed yet
    samples = read_lines(writer.path / "samples.jsonl")
    assert [r["t_s"] for r in invocations] == [1.0, 2.0, 3.0]
    assert tuple(invocations[0]) == INVOCATION_FIELDS and invocations[0]["threads"] is None
    assert tuple(samples[0]) == SAMPLE_FIELDS
    assert writer.invocations_written == 3 and writer.samples_written == 1
    writer.finish(t_s=1733320860.0, interrupted=False)
    run = json.loads((writer.path / "run.json").read_text())
    assert run["ended_utc"] == "2024-12-04T14:01:00.000Z" and run["interrupted"] is False
    writer.append_invocation({"t_s": 4.0, "function": "ticker-fixed"})  # late: dropped
    assert len(read_lines(writer.path / "invocations.jsonl")) == 3
    writer.finish(extra=1)  # idempotent
    assert json.loads((writer.path / "run.json").read_text())["ended_utc"] == run["ended_utc"]


def test_unknown_field_is_a_bug(tmp_path):
    writer = RunWriter.create(tmp_path, config=CONFIG, functions=FUNCTIONS)
    with pytest.raises(ValueError, match="invocation row has unknown field 'thread'"):
        writer.append_invocation({"t_s": 1.0, "function": "f", "thread": 3})
    writer.finish()


def test_runs_are_never_overwritten(tmp_path):
    first = RunWriter.create(tmp_path, config=CONFIG, functions=FUNCTIONS, t_s=1733320800)
    second = RunWriter.create(tmp_path, config=CONFIG, functions=FUNCTIONS, t_s=1733320800)
    assert second.run_id == "20241204T140000Z-2" and second.path.is_dir()
    named = RunWriter.create(tmp_path, config=CONFIG, functions=FUNCTIONS, run_id="ci-42")
    with pytest.raises(HeartbenchError, match=r"run directory '.*ci-42' already exists; "
                                              r"choose another run id"):
        RunWriter.create(tmp_path, config=CONFIG, functions=FUNCTIONS, run_id="ci-42")
    for writer in (first, second, named):
        writer.finish()


def test_killed_writer_leaves_readable_files(tmp_path):
    """A process killed mid-run (no finish) leaves run.json and every flushed row."""
    code = (
        "import os, signal, sys\n"
        "from heartbench.rundir import RunWriter\n"
        f"w = RunWriter.create({str(tmp_path)!r}, config={{}}, functions=[], run_id='r')\n"
        "for i in range(100):\n"
        "    w.append_invocation({'t_s': float(i), 'function': 'f'})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=60)
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["ended_utc"] is None
    assert len(read_lines(tmp_path / "r" / "invocations.jsonl")) == 100


def test_time_formats():
    assert new_run_id(0) == "19700101T000000Z"
    assert utc_iso(1.5) == "1970-01-01T00:00:01.500Z"
