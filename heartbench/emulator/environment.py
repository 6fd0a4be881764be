"""One execution environment: a real runtime process, its Runtime API port and its lifecycle.

The environment is driven from two sides: the pool dispatches invocations to it, and the runtime
process calls the Runtime API (see runtime_api.py), whose handlers call the `on_*` methods here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from heartbench.config import FunctionConfig
from heartbench.emulator import logs
from heartbench.emulator.httpserver import HttpServer, Response
from heartbench.emulator.invocation import Invocation, InvocationResult, error_payload
from heartbench.emulator.lifecycle import Event, Lifecycle, State, TransitionError
from heartbench.emulator.supervisor import RuntimeProcess, describe_exit

if TYPE_CHECKING:
    from heartbench.emulator.options import EmulatorOptions

log = logging.getLogger(__name__)

MiB = 1024 * 1024
RUNTIME_API_HOST = "127.0.0.1"
PYTHON_RUNTIME_ARGV = [sys.executable, "-m", "heartbench.emulator.pybootstrap"]


class Environment:
    def __init__(self, function: FunctionConfig, options: "EmulatorOptions", pool):
        self.function = function
        self.options = options
        self.pool = pool
        self.id = uuid.uuid4().hex
        created = dt.datetime.now(dt.timezone.utc)
        self.started_utc = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.log_stream = f"{created:%Y/%m/%d}/[$LATEST]{self.id}"
        self.lifecycle = Lifecycle()
        self.process: RuntimeProcess | None = None
        self.runtime_server: HttpServer | None = None
        self.runtime_address = ""
        self.pending_next: asyncio.Future | None = None
        self.current: Invocation | None = None
        self.reserved: Invocation | None = None     # the invocation that caused this cold start
        self.invocations = 0
        self.init_duration_ms: float | None = None
        self.last_error: str | None = None
        self.last_used_s = time.monotonic()
        self.peak_rss_bytes = 0
        self.group_rss_bytes = 0                    # RSS of member_pids, set by the memory watcher
        self.member_pids: list[int] = []            # other processes of the group (children)
        self._spawned_s = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._partial = bytearray()
        self._init_log = bytearray()
        self.log_path = options.log_dir / function.name / f"{self.id}.log"
        self._log_file = None
        self._closed = False

    # ----------------------------------------------------------------- queries
    @property
    def state(self) -> State:
        return self.lifecycle.state

    def describe(self) -> dict:
        return {"id": self.id, "function": self.function.name,
                "pid": self.process.pid if self.process else None, "state": self.state.value,
                "invocations": self.invocations, "init_duration_ms": self.init_duration_ms,
                "last_error": self.last_error, "log_stream": self.log_stream,
                "log_file": str(self.log_path), "started_utc": self.started_utc}

    # ----------------------------------------------------------------- start
    async def start(self, first: Invocation) -> None:
        """Cold start: open the Runtime API, spawn the runtime; `first` runs once init is done."""
        self.reserved = first
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab", buffering=64 * 1024)
        from heartbench.emulator.runtime_api import RuntimeApi
        self.runtime_server = HttpServer(RuntimeApi(self).handle)
        # The Runtime API is for the runtime on this machine only, whatever the front door binds to.
        host, port = await self.runtime_server.start(RUNTIME_API_HOST, 0)
        self.runtime_address = f"{host}:{port}"
        argv, env = self._command()
        self._spawned_s = time.perf_counter()
        try:
            self.process = RuntimeProcess(argv, env, str(self.function.code_dir))
        except OSError as e:
            self._init_failed(f"Runtime.InvalidEntrypoint", f"cannot start runtime: {e.strerror}",
                              status="error")
            return
        loop = asyncio.get_running_loop()
        loop.add_reader(self.process.output_fd, self._on_output)
        loop.add_reader(self.process.pidfd, self._on_exit)
        self._timer = loop.call_later(self.options.init_timeout_s, self._on_init_timeout)

    def _command(self) -> tuple[list[str], dict[str, str]]:
        fn = self.function
        if fn.runtime == "provided":
            argv = [str(fn.code_dir / "bootstrap")]
        else:
            argv = list(PYTHON_RUNTIME_ARGV)
        env = {
            "_HANDLER": fn.handler,
            "AWS_REGION": self.options.region, "AWS_DEFAULT_REGION": self.options.region,
            "AWS_EXECUTION_ENV": ("AWS_Lambda_python%d.%d" % sys.version_info[:2]
                                  if fn.runtime == "python" else "AWS_Lambda_provided"),
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_LAMBDA_RUNTIME_API": self.runtime_address,
            "LAMBDA_TASK_ROOT": str(fn.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "TZ": ":UTC", "LANG": "en_US.UTF-8",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "PYTHONPATH": str(fn.code_dir),
            **self.options.credentials,
        }
        if fn.exec_wrapper is not None:
            argv = [str(fn.exec_wrapper), *argv]
            env["AWS_LAMBDA_EXEC_WRAPPER"] = str(fn.exec_wrapper)
        env.update(fn.environment)
        env.update(self.options.env_overrides)
        return argv, env

    # ----------------------------------------------------------------- pool side
    def dispatch(self, inv: Invocation) -> None:
        """Hand an event to the runtime waiting in invocation/next; thaw first if frozen."""
        if self.state == State.FROZEN:
            self.process.thaw()
            self.lifecycle.fire(Event.THAW)
        self.lifecycle.fire(Event.DISPATCH)
        self.current = inv
        inv.started_s = time.perf_counter()
        timeout_s = self.function.timeout_s
        inv.deadline_ms = int(time.time() * 1000 + timeout_s * 1000)
        self._append(inv, logs.start_line(inv.request_id).encode())
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.options.function_arn(self.function.name),
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        }
        if inv.client_context:
            headers["Lambda-Runtime-Client-Context"] = inv.client_context
        self._timer = asyncio.get_running_loop().call_later(timeout_s, self._on_timeout)
        waiting, self.pending_next = self.pending_next, None
        waiting.set_result(Response(200, inv.payload, headers))

    def freeze(self) -> None:
        self.lifecycle.fire(Event.FREEZE)
        self.process.freeze()

    def shutdown(self, reason: str = "SPINDOWN") -> None:
        """Stop the environment now: no extensions, so the shutdown budget is 0 ms (SIGKILL)."""
        if self.state == State.STOPPED:
            return
        if self.lifecycle.allows(Event.FAIL) and self.state != State.FAILED and reason != "SPINDOWN":
            self.lifecycle.fire(Event.FAIL)
        self._kill_and_reap()
        if self.state != State.STOPPED:
            self.lifecycle.fire(Event.SHUTDOWN)
        pending = [inv for inv in (self.current, self.reserved) if inv and not inv.future.done()]
        for inv in pending:  # emulator shutting down mid-invocation: still answer exactly once
            self._finish(inv, error_payload("Emulator shut down during the invocation",
                                            "Runtime.ExitError"), True, "Runtime.ExitError",
                         status="error")
        self._close()
        self.pool.on_environment_gone(self)

    # ----------------------------------------------------------------- runtime API side
    def on_next(self) -> asyncio.Future:
        """The runtime asks for the next event; returns the future its HTTP response waits on."""
        if self.state == State.STARTING:
            self._drain()
            self.lifecycle.fire(Event.INIT_DONE)
            self._cancel_timer()
            self.init_duration_ms = (time.perf_counter() - self._spawned_s) * 1000
            self._write(bytes(self._init_log))
        else:
            self.lifecycle.fire(Event.NEXT)  # raises TransitionError unless RESPONDED
        self.pending_next = asyncio.get_running_loop().create_future()
        future = self.pending_next
        first, self.reserved = self.reserved, None
        if first is not None and not first.future.done():
            first.init_duration_ms = self.init_duration_ms
            self.dispatch(first)
        elif not self.pool.on_environment_idle(self) and self.options.freeze:
            self.freeze()
        return future

    def on_response(self, request_id: str, body: bytes) -> Response:
        inv = self._check_current(request_id)
        if isinstance(inv, Response):
            return inv
        if len(body) > self.options.max_response_bytes:
            self.lifecycle.fire(Event.RESPOND)
            message = (f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload "
                       f"size ({self.options.max_response_bytes} bytes).")
            self._complete(inv, error_payload(message, "Function.ResponseSizeTooLarge"), True,
                           "Function.ResponseSizeTooLarge")
            return Response.json(413, {"errorMessage": message, "errorType": "RequestEntityTooLarge"})
        self.lifecycle.fire(Event.RESPOND)
        self._complete(inv, body, False, None)
        return Response.json(202, {"status": "OK"})

    def on_error(self, request_id: str, body: bytes, error_type_header: str | None) -> Response:
        inv = self._check_current(request_id)
        if isinstance(inv, Response):
            return inv
        payload, error_type = _normalise_error(body, error_type_header)
        self.lifecycle.fire(Event.RESPOND)
        self._complete(inv, payload, True, error_type)
        return Response.json(202, {"status": "OK"})

    def on_init_error(self, body: bytes, error_type_header: str | None) -> Response:
        if self.state != State.STARTING:
            err = TransitionError(self.state, State.FAILED, Event.INIT_FAILED)
            return Response.json(403, {"errorMessage": str(err), "errorType": "InvalidStateTransition"})
        payload, error_type = _normalise_error(body, error_type_header)
        self._init_failed(error_type, None, payload=payload, status="error")
        return Response.json(202, {"status": "OK"})

    def _check_current(self, request_id: str) -> Invocation | Response:
        inv = self.current
        if inv is None or inv.request_id != request_id:
            return Response.json(400, {"errorMessage": f"Invalid request ID: {request_id!r}",
                                       "errorType": "InvalidRequestID"})
        if self.state != State.INVOKING:
            err = TransitionError(self.state, State.RESPONDED, Event.RESPOND)
            return Response.json(403, {"errorMessage": str(err), "errorType": "InvalidStateTransition"})
        return inv

    # ----------------------------------------------------------------- failures
    def _on_timeout(self) -> None:
        self._timer = None
        inv = self.current
        if inv is None or self.state != State.INVOKING:
            return
        message = logs.timeout_message(inv.request_id, self.function.timeout_s)
        self._fail_invocation(inv, message, "Sandbox.Timedout", status="timeout", reason="timeout")

    def on_memory_exceeded(self, rss_bytes: int) -> None:
        """Called by the memory watcher: the process tree's RSS is above the memory size."""
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss_bytes)
        inv = self.current if self.state == State.INVOKING else None
        if inv is None and self.state == State.STARTING and self.reserved is not None:
            self._init_failed("Runtime.OutOfMemory", logs.exit_message(self.reserved.request_id,
                                                                       "signal: killed"), status="error")
            return
        if inv is None:
            self.discard(f"Runtime.OutOfMemory: {rss_bytes // MiB} MB above {self.function.memory_mb} MB "
                          f"while {self.state.value}")
            return
        message = logs.exit_message(inv.request_id, "signal: killed")
        self._fail_invocation(inv, message, "Runtime.OutOfMemory", status="error", reason="out of memory")

    def _on_init_timeout(self) -> None:
        self._timer = None
        if self.state == State.STARTING:
            self._init_failed("Sandbox.Timedout", None, status="timeout")

    def _fail_invocation(self, inv: Invocation, message: str, error_type: str, status: str,
                         reason: str) -> None:
        self.lifecycle.fire(Event.FAIL)
        self._cancel_timer()
        self._kill_and_reap()
        line = message if error_type == "Sandbox.Timedout" else f"{message}\n{error_type}"
        self._append(inv, (line + "\n").encode())
        self.last_error = f"{error_type}: {reason}"
        self._finish(inv, error_payload(message, error_type), True, error_type, status=status)
        self._retire()

    def _init_failed(self, error_type: str, message: str | None, payload: bytes | None = None,
                     status: str = "error") -> None:
        if self.lifecycle.allows(Event.INIT_FAILED):
            self.lifecycle.fire(Event.INIT_FAILED)
        self._cancel_timer()
        self._kill_and_reap()
        duration_ms = (time.perf_counter() - self._spawned_s) * 1000 if self._spawned_s else 0.0
        inv, self.reserved = self.reserved, None
        self.last_error = f"{error_type}: init {status}"
        report = logs.init_report_line(duration_ms, "init", status, error_type).encode()
        if inv is not None and not inv.future.done():
            inv.started_s = self._spawned_s or time.perf_counter()
            inv.log += self._init_log
            if message is None:
                message = (logs.timeout_message(inv.request_id, self.options.init_timeout_s)
                           if status == "timeout" else
                           logs.exit_message(inv.request_id, "exit status 1"))
            if payload is None:
                payload = error_payload(message, error_type)
            self._write(bytes(self._init_log))
            self._append(inv, report + logs.start_line(inv.request_id).encode())
            self._finish(inv, payload, True, error_type, status=status)
        else:
            self._write(bytes(self._init_log) + report)
        self._retire()

    def _on_exit(self) -> None:
        """The runtime process ended (pidfd readable)."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.process.pidfd)
        returncode = self.process.reap()
        self._drain()
        if self.state in (State.FAILED, State.STOPPED):
            return
        how = describe_exit(returncode)
        if self.state == State.STARTING:
            self._init_failed("Runtime.ExitError", None if self.reserved is None else
                              logs.exit_message(self.reserved.request_id, how), status="error")
        elif self.state == State.INVOKING:
            self._fail_invocation(self.current, logs.exit_message(self.current.request_id, how),
                                  "Runtime.ExitError", status="error", reason=f"runtime exited ({how})")
        else:
            self.discard(f"Runtime.ExitError: runtime exited ({how}) while {self.state.value}")

    def discard(self, error: str) -> None:
        """Kill the environment and leave the pool: it died or overran while idle, or its start
        failed half-way (then it is still STARTING)."""
        self.last_error = error
        self.lifecycle.fire(Event.FAIL)
        self._cancel_timer()
        self._kill_and_reap()
        self._retire()

    def _retire(self) -> None:
        self.lifecycle.fire(Event.SHUTDOWN)
        self._close()
        self.pool.on_environment_gone(self)

    # ----------------------------------------------------------------- completion and logs
    def _complete(self, inv: Invocation, payload: bytes, function_error: bool, error_type: str | None):
        self._cancel_timer()
        self._drain()
        self._finish(inv, payload, function_error, error_type)

    def _finish(self, inv: Invocation, payload: bytes, function_error: bool, error_type: str | None,
                status: str | None = None) -> None:
        duration_ms = (time.perf_counter() - inv.started_s) * 1000 if inv.started_s else 0.0
        if self._partial and self.current is inv:
            self._append(inv, bytes(self._partial) + b"\n")
            self._partial.clear()
        max_used_mb = -(-max(self.peak_rss_bytes, self._peak_now()) // MiB)
        self._append(inv, logs.end_line(inv.request_id).encode())
        report = logs.report_line(inv.request_id, duration_ms, self.function.memory_mb, max_used_mb,
                                  inv.init_duration_ms, status,
                                  error_type if status == "error" else None)
        self._append(inv, report.encode())
        self._flush()
        if self.current is inv:
            self.current = None
        self.invocations += 1
        self.last_used_s = time.monotonic()
        if not inv.future.done():
            inv.future.set_result(InvocationResult(inv.request_id, payload, function_error, error_type,
                                                   bytes(inv.log), self.id, duration_ms))

    def _peak_now(self) -> int:
        if self.process is None or self.process.returncode is not None:
            return 0
        return self.process.peak_rss_bytes() + self.group_rss_bytes

    def _append(self, inv: Invocation, data: bytes) -> None:
        inv.log += data
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self._log_file is not None and data:
            self._log_file.write(data)

    def _flush(self) -> None:
        if self._log_file is not None:
            self._log_file.flush()

    def _on_output(self) -> None:
        data = self.process.read_output()
        if data is None:
            asyncio.get_running_loop().remove_reader(self.process.output_fd)
            return
        self._route_output(data)

    def _drain(self) -> None:
        if self.process is None:
            return
        data = self.process.read_output()
        if data:
            self._route_output(data)

    def _route_output(self, data: bytes) -> None:
        """Whole lines go to the invocation in flight (and the log file); others to the log file."""
        self._partial += data
        cut = self._partial.rfind(b"\n")
        if cut < 0:
            return
        lines = bytes(self._partial[:cut + 1])
        del self._partial[:cut + 1]
        if self.state == State.STARTING:
            self._init_log += lines
        elif self.current is not None and self.state in (State.INVOKING, State.FAILED):
            self._append(self.current, lines)
        else:
            self._write(lines)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _kill_and_reap(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.kill()
        try:
            asyncio.get_running_loop().remove_reader(self.process.pidfd)
        except RuntimeError:
            pass
        self.process.reap()
        self._drain()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel_timer()
        if self.pending_next is not None and not self.pending_next.done():
            self.pending_next.cancel()
        if self.process is not None:
            asyncio.get_running_loop().remove_reader(self.process.output_fd)
            self.process.close_output()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.runtime_server is not None:
            server, self.runtime_server = self.runtime_server, None
            task = asyncio.get_running_loop().create_task(server.close())
            self.pool.track(task)


def _normalise_error(body: bytes, error_type_header: str | None) -> tuple[bytes, str]:
    """The error payload as the caller sees it, and the error type (header wins, then body)."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = None
    if isinstance(data, dict):
        error_type = error_type_header or data.get("errorType") or "Unhandled"
        return body if body else error_payload("", error_type), error_type
    error_type = error_type_header or "Unhandled"
    return error_payload(body.decode("utf-8", "replace"), error_type), error_type
