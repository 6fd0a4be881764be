"""Lambda's log lines, in the formats CloudWatch Logs shows them (fields are tab-separated)."""

from __future__ import annotations

import datetime as dt
import math

LOG_TAIL_BYTES = 4096


def iso_now() -> str:
    """UTC time as Lambda writes it in the timeout message: 2026-12-04T15:04:05.123Z."""
    now = dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def start_line(request_id: str, version: str = "$LATEST") -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


def billed_ms(duration_ms: float) -> int:
    return max(1, math.ceil(duration_ms))


def report_line(request_id: str, duration_ms: float, memory_size_mb: int, max_memory_used_mb: int,
                init_duration_ms: float | None = None, status: str | None = None,
                error_type: str | None = None) -> str:
    fields = [f"REPORT RequestId: {request_id}",
              f"Duration: {duration_ms:.2f} ms",
              f"Billed Duration: {billed_ms(duration_ms)} ms",
              f"Memory Size: {memory_size_mb} MB",
              f"Max Memory Used: {max_memory_used_mb} MB"]
    if init_duration_ms is not None:
        fields.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if status is not None:
        fields.append(f"Status: {status}")
    if error_type is not None:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields) + "\t\n"


def init_report_line(init_duration_ms: float, phase: str, status: str,
                     error_type: str | None = None) -> str:
    fields = [f"INIT_REPORT Init Duration: {init_duration_ms:.2f} ms", f"Phase: {phase}",
              f"Status: {status}"]
    if error_type:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields) + "\n"


def timeout_message(request_id: str, timeout_s: float) -> str:
    return f"{iso_now()} {request_id} Task timed out after {timeout_s:.2f} seconds"


def exit_message(request_id: str, how: str) -> str:
    """how: 'exit status 1' or 'signal: killed'."""
    return f"RequestId: {request_id} Error: Runtime exited with error: {how}"


def tail(log: bytes | bytearray, limit: int = LOG_TAIL_BYTES) -> bytes:
    """The last `limit` bytes of an invocation's log, as X-Amz-Log-Result carries them."""
    return bytes(log[-limit:])
