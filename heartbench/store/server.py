"""An embedded DynamoDB-compatible server: moto's server mode as a child process on 127.0.0.1.

The server binds port 0 (the kernel picks a free port, so two servers never race for one); we learn
the port from the child's listening socket and poll until it answers HTTP, with a deadline. The child
runs in its own process group and `stop()` signals the whole group, so nothing outlives it.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from heartbench.children import die_with_parent
from heartbench.errors import HeartbenchError

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.05


class DynamoServer:
    """Context manager around `python -m moto.server` bound to a loopback address.

    `endpoint_url` is set once the server answers. `log_path` keeps the server's request log
    (otherwise a temporary file, removed on stop).
    """

    def __init__(self, host: str = "127.0.0.1", log_path: str | os.PathLike | None = None):
        self.host = host
        self.log_path = Path(log_path) if log_path else None
        self.endpoint_url: str | None = None
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self._temp_log = False

    def start(self, timeout_s: float = START_TIMEOUT_S) -> "DynamoServer":
        if self.proc is not None:
            raise HeartbenchError("DynamoDB server already started")
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="heartbench-dynamodb-", suffix=".log")
            os.close(fd)
            self.log_path, self._temp_log = Path(name), True
        self._log_file = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", "0"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=die_with_parent)
        atexit.register(self.stop)
        try:
            port = self._wait_for_port(time.monotonic() + timeout_s)
            self.endpoint_url = f"http://{self.host}:{port}"
            self._wait_for_http(time.monotonic() + timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise HeartbenchError(f"DynamoDB server exited with status {self.proc.returncode} "
                                  f"while starting: {self.log_tail()}")

    def _wait_for_port(self, deadline: float) -> int:
        child = psutil.Process(self.proc.pid)
        while True:
            self._check_alive()
            try:
                ports = [c.laddr.port for c in child.net_connections(kind="tcp")
                         if c.status == psutil.CONN_LISTEN]
            except psutil.NoSuchProcess:
                ports = []
            if ports:
                return ports[0]
            if time.monotonic() > deadline:
                raise HeartbenchError(f"DynamoDB server did not listen within the deadline: "
                                      f"{self.log_tail()}")
            time.sleep(POLL_INTERVAL_S)

    def _wait_for_http(self, deadline: float) -> None:
        while True:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer means it serves
            except OSError:
                if time.monotonic() > deadline:
                    raise HeartbenchError(f"DynamoDB server at {self.endpoint_url} did not answer "
                                          f"within the deadline") from None
            time.sleep(POLL_INTERVAL_S)

    def log_tail(self, max_chars: int = 500) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return " ".join(text[-max_chars:].split())

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 (inside a function or not) at this server."""
        return {"AWS_ENDPOINT_URL_DYNAMODB": self.endpoint_url}

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM the server's process group, SIGKILL it if it has not exited in time."""
        atexit.unregister(self.stop)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if self._temp_log and self.log_path:
            self.log_path.unlink(missing_ok=True)
            self.log_path, self._temp_log = None, False
        return self.proc.returncode

    def __enter__(self) -> "DynamoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
