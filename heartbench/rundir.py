"""Write a run directory `reports/<run-id>/` (schema_version 1; docs/design.md, docs/loadtest.md).

    writer = RunWriter.create("reports", config={...}, functions=[{"function", "pair", "variant"}])
    writer.append_invocation(row)       # one line of invocations.jsonl, flushed at once
    writer.append_sample(row)           # one line of samples.jsonl, flushed at once
    writer.finish()                     # ended_utc into run.json, files closed

`run.json` is written when the directory is created (ended_utc null) and rewritten atomically on
every update, so an interrupted run leaves a readable directory: the JSON-lines files hold every
row written so far (at most a truncated last line, which readers drop).
This module only writes; `analysis.rundir` reads.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import subprocess
import threading
from pathlib import Path

import psutil

from heartbench import __version__
from heartbench.errors import HeartbenchError

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
INVOCATIONS_FILE = "invocations.jsonl"
SAMPLES_FILE = "samples.jsonl"
STATUSES = ("ok", "error", "throttled")
INVOCATION_FIELDS = (
    "t_s", "function", "pair", "variant", "request_id", "status", "error_type", "response_time_ms",
    "duration_ms", "billed_duration_ms", "memory_size_mb", "max_memory_used_mb", "init_duration_ms",
    "env_id", "env_invocation", "cold_start",
    "threads", "tasks", "rss_bytes", "fds", "gc_objects", "heartbeats",
)
SAMPLE_FIELDS = (
    "t_s", "function", "pair", "variant", "env_id", "pid", "state", "proc_status",
    "rss_bytes", "uss_bytes", "threads", "fds", "cpu_s", "invocations",
)
GIT_TIMEOUT_S = 5.0


def utc_iso(t_s: float | None = None) -> str:
    """UTC time as ISO 8601 with milliseconds and a Z: 2024-12-04T14:00:00.123Z."""
    when = dt.datetime.fromtimestamp(t_s, dt.timezone.utc) if t_s is not None \
        else dt.datetime.now(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def new_run_id(t_s: float | None = None) -> str:
    """A run id from the UTC time: 20241204T140000Z."""
    when = dt.datetime.fromtimestamp(t_s, dt.timezone.utc) if t_s is not None \
        else dt.datetime.now(dt.timezone.utc)
    return when.strftime("%Y%m%dT%H%M%SZ")


def machine_info() -> dict:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
    }


def git_info(path: str | os.PathLike | None = None) -> dict:
    """Commit and dirty flag of the git checkout holding `path` (default: heartbench's source).

    Both are null outside a git checkout or without git.
    """
    where = str(path or Path(__file__).resolve().parent.parent)

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", where, *args], capture_output=True, text=True,
                                  timeout=GIT_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else status != ""}


def _check_row(row: dict, fields: tuple[str, ...], kind: str) -> dict:
    unknown = [k for k in row if k not in fields]
    if unknown:
        raise ValueError(f"{kind} row has unknown field {unknown[0]!r}")
    return {k: row.get(k) for k in fields}


class RunWriter:
    """Owns one run directory: run.json plus the two JSON-lines files, appended and flushed.

    Safe to call from several threads (or greenlets); each row is one write of one line.
    """

    def __init__(self, path: Path, run: dict):
        self.path = path
        self.run = run
        self.invocations_written = 0
        self.samples_written = 0
        self._lock = threading.Lock()
        self._invocations = open(path / INVOCATIONS_FILE, "a", encoding="utf-8")
        self._samples = open(path / SAMPLES_FILE, "a", encoding="utf-8")
        self._write_run()

    @classmethod
    def create(cls, root: str | os.PathLike, *, config: dict, functions: list[dict],
               run_id: str | None = None, t_s: float | None = None) -> "RunWriter":
        """Make `root/<run-id>/` and write run.json with ended_utc null.

        A given `run_id` whose directory exists is an error (runs are never overwritten); a
        generated one gets a -2, -3, ... suffix instead.
        """
        root = Path(root)
        chosen = run_id or new_run_id(t_s)
        path = root / chosen
        if run_id and path.exists():
            raise HeartbenchError(f"run directory {str(path)!r} already exists; "
                                  f"choose another run id")
        suffix = 2
        while True:
            try:
                path.mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                chosen, suffix = f"{run_id or new_run_id(t_s)}-{suffix}", suffix + 1
                path = root / chosen
            except OSError as e:
                raise HeartbenchError(f"cannot create run directory {str(path)!r}: "
                                      f"{e.strerror}") from None
        run = {
            "schema_version": SCHEMA_VERSION,
            "tool_version": __version__,
            "run_id": chosen,
            "started_utc": utc_iso(t_s),
            "ended_utc": None,
            "config": dict(config),
            "machine": machine_info(),
            "git": git_info(),
            "functions": [{"function": f["function"], "pair": f.get("pair"),
                           "variant": f.get("variant")} for f in functions],
        }
        return cls(path, run)

    @property
    def run_id(self) -> str:
        return self.run["run_id"]

    @property
    def closed(self) -> bool:
        return self._invocations.closed

    def _write_run(self) -> None:
        tmp = self.path / f".{RUN_FILE}.tmp"
        tmp.write_text(json.dumps(self.run, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path / RUN_FILE)

    def _append(self, file, text: str) -> bool:
        with self._lock:
            if file.closed:
                return False  # rows arriving after finish() (late worker batches) are dropped
            file.write(text)
            file.flush()
            return True

    def append_invocation(self, row: dict) -> None:
        """Append one invocation row (INVOCATION_FIELDS; missing fields are null)."""
        line = json.dumps(_check_row(row, INVOCATION_FIELDS, "invocation"), separators=(",", ":"))
        self.invocations_written += self._append(self._invocations, line + "\n")

    def append_invocations(self, rows: list[dict]) -> None:
        """Append several rows with one write and one flush."""
        if not rows:
            return
        text = "".join(json.dumps(_check_row(r, INVOCATION_FIELDS, "invocation"),
                                  separators=(",", ":")) + "\n" for r in rows)
        if self._append(self._invocations, text):
            self.invocations_written += len(rows)

    def append_sample(self, row: dict) -> None:
        """Append one out-of-band sample row (SAMPLE_FIELDS; missing fields are null)."""
        line = json.dumps(_check_row(row, SAMPLE_FIELDS, "sample"), separators=(",", ":"))
        self.samples_written += self._append(self._samples, line + "\n")

    def update(self, **fields) -> None:
        """Set top-level run.json keys (e.g. heartbeats, collector overhead) and rewrite it."""
        with self._lock:
            self.run.update(fields)
            self._write_run()

    def finish(self, t_s: float | None = None, **fields) -> None:
        """Write ended_utc (and `fields`) into run.json and close the JSON-lines files.

        Idempotent: a second call only updates `fields`.
        """
        with self._lock:
            if self.run["ended_utc"] is None:
                self.run["ended_utc"] = utc_iso(t_s)
            self.run.update(fields)
            self._write_run()
            for file in (self._invocations, self._samples):
                if not file.closed:
                    file.close()

