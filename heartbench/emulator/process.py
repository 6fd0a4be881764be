"""Run `heartbench emulator` as a child process: start, wait for readiness, stop.

Used by the load test, `heartbench check` and the tests. The emulator prints one line
`heartbench emulator listening on http://HOST:PORT` once it serves; we wait for it with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from heartbench.errors import HeartbenchError

READY_PREFIX = "heartbench emulator listening on "
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class EmulatorProcess:
    """Context manager around a `heartbench emulator` child process.

    `extra_args` are passed to the command line (e.g. ["--no-freeze"]); `env` adds environment variables
    for the emulator process. `url` is set once the emulator is ready.
    """

    def __init__(self, config: str | os.PathLike, *, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, log_dir: str | os.PathLike | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        self.config = Path(config)
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.log_dir = Path(log_dir) if log_dir else None
        self.host = host
        self.port = port
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> "EmulatorProcess":
        cmd = [sys.executable, "-m", "heartbench", "emulator", "--config", str(self.config), "--exit-with-parent",
               "--host", self.host, "--port", str(self.port), *self.extra_args]
        if self.log_dir:
            cmd += ["--log-dir", str(self.log_dir)]
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env, start_new_session=True)
        ready = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.output.append(line.rstrip("\n"))
                if line.startswith(READY_PREFIX) and not ready.is_set():
                    self.url = line[len(READY_PREFIX):].strip()
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, name="emulator-output", daemon=True)
        self._reader.start()
        if not ready.wait(timeout_s) or self.url is None:
            self.stop()
            tail = "; ".join(self.output[-5:])
            raise HeartbenchError(f"emulator did not become ready within {timeout_s:.0f} s: {tail}")
        return self

    def environments(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/_heartbench/environments", timeout=10) as r:
            return json.load(r)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM the emulator and wait; SIGKILL its process group if it does not stop in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        if self._reader:
            self._reader.join(timeout=5)
        return self.proc.returncode

    def __enter__(self) -> "EmulatorProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
