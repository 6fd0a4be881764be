"""The in-band shim: one EMF line on stdout at the end of every invocation, even a failing one.

It runs inside the function process (on the emulator or on Lambda) and reads its labels from the
environment Lambda sets: AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_LOG_STREAM_NAME (the environment id is
the part after "]"), plus HEARTBENCH_VARIANT and HEARTBENCH_PAIR from the function configuration.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import threading
import time

from heartbench.telemetry import emf, loops, probes

UNKNOWN = "unknown"
INSTRUMENTED_ATTR = "__heartbench_instrumented__"

_heartbeats = 0
_heartbeats_lock = threading.Lock()
_invocations = itertools.count(1)


def record_heartbeat(n: int = 1) -> None:
    """Count heartbeats written by this process (from any thread)."""
    global _heartbeats
    with _heartbeats_lock:
        _heartbeats += n


def heartbeats() -> int:
    return _heartbeats


def env_id() -> str:
    stream = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
    return stream.rpartition("]")[2] or UNKNOWN


def snapshot(invocation: int, request_id: str | None) -> dict:
    """Measure the process now and build the EMF record."""
    dimensions = {"function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or UNKNOWN,
                  "variant": os.environ.get("HEARTBENCH_VARIANT") or UNKNOWN}
    metrics = {"Threads": probes.threads(), "Tasks": probes.tasks(), "RSS": probes.rss_bytes(),
               "FDs": probes.fds(), "GCObjects": probes.gc_objects(), "Heartbeats": _heartbeats}
    context = {"pair": os.environ.get("HEARTBENCH_PAIR") or UNKNOWN, "env_id": env_id(),
               "cold_start": invocation == 1, "invocation": invocation, "request_id": request_id,
               "os_threads": probes.os_threads()}
    return emf.record(int(time.time() * 1000), dimensions, metrics, context)


def emit(invocation: int, request_id: str | None) -> None:
    """Write the record as one line, in a single write so other threads cannot split it.

    A failure to measure or write is reported on stderr and never fails the invocation.
    """
    try:
        text = emf.line(snapshot(invocation, request_id)) + "\n"
        sys.stdout.write(text)
        sys.stdout.flush()
    except Exception as e:  # noqa: BLE001 - telemetry must not change the function's outcome
        sys.stderr.write(f"heartbench telemetry: no EMF line for invocation {invocation}: "
                         f"{type(e).__name__}: {e}\n")


def instrument(handler):
    """Decorate a Lambda handler `handler(event, context)` to emit the EMF line after each call."""
    if getattr(handler, INSTRUMENTED_ATTR, False):
        return handler
    loops.install()

    @functools.wraps(handler)
    def instrumented(event, context):
        invocation = next(_invocations)
        try:
            return handler(event, context)
        finally:
            emit(invocation, getattr(context, "aws_request_id", None))

    setattr(instrumented, INSTRUMENTED_ATTR, True)
    return instrumented
