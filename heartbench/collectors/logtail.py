"""In-band collector: everything one invocation tells about itself through its log tail.

With `LogType=Tail`, Invoke returns the last 4 KB of the invocation's log, base64-encoded
(`X-Amz-Log-Result`). Two lines in it matter:

- the platform's REPORT line (tab-separated `Key: value` fields):
  `REPORT RequestId: <id>\\tDuration: 15.74 ms\\tBilled Duration: 16 ms\\tMemory Size: 128 MB\\t`
  `Max Memory Used: 56 MB\\tInit Duration: 130.49 ms\\t` (Init Duration on cold starts only; newer
  runtimes append `Status: timeout` / `Error Type: Runtime.OutOfMemory` on failures);
- heartbench's EMF line (docs/design.md), emitted last by the function: threads, tasks, RSS, fds,
  gc objects, heartbeats, environment id, invocation count and the cold-start flag.

This is all there is against a deployed function, so an invocation row is complete from these two
lines plus what the client saw (status, error type, response time). Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re

from heartbench.rundir import INVOCATION_FIELDS, STATUSES
from heartbench.telemetry.emf import find_records

# REPORT field name -> (row key, unit suffix to strip, type)
_REPORT_FIELDS = {
    "RequestId": ("request_id", "", str),
    "Duration": ("duration_ms", " ms", float),
    "Billed Duration": ("billed_duration_ms", " ms", int),
    "Memory Size": ("memory_size_mb", " MB", int),
    "Max Memory Used": ("max_memory_used_mb", " MB", int),
    "Init Duration": ("init_duration_ms", " ms", float),
    "Restore Duration": ("restore_duration_ms", " ms", float),
    "Status": ("status", "", str),
    "Error Type": ("error_type", "", str),
}
_FIELD_SPLIT = re.compile(r"\t+")  # Lambda separates the fields with tabs

# EMF root key -> invocation row key
_EMF_FIELDS = {
    "Threads": "threads", "Tasks": "tasks", "RSS": "rss_bytes", "FDs": "fds",
    "GCObjects": "gc_objects", "Heartbeats": "heartbeats",
    "env_id": "env_id", "invocation": "env_invocation", "cold_start": "cold_start",
}
TIMEOUT_ERROR = "Sandbox.Timedout"


def decode_log_result(log_result: str | None) -> str:
    """The text of a base64 `LogResult`; "" when absent. Undecodable bytes are replaced."""
    if not log_result:
        return ""
    try:
        raw = base64.b64decode(log_result, validate=False)
    except (binascii.Error, ValueError):
        return ""
    return raw.decode("utf-8", errors="replace")


def parse_report_line(line: str) -> dict:
    """Fields of one REPORT line as row keys (duration_ms, billed_duration_ms, memory_size_mb, ...).

    Unknown fields are ignored; a field whose value does not parse is left out. Raises ValueError
    when `line` is not a REPORT line.
    """
    line = line.strip()
    if not line.startswith("REPORT "):
        raise ValueError(f"not a REPORT line: {line[:60]!r}")
    fields = {}
    for part in _FIELD_SPLIT.split(line[len("REPORT "):]):
        name, sep, value = part.partition(": ")
        spec = _REPORT_FIELDS.get(name.strip())
        if not sep or spec is None:
            continue
        key, unit, kind = spec
        value = value.strip()
        if unit and value.endswith(unit):
            value = value[: -len(unit)]
        try:
            fields[key] = kind(value)
        except ValueError:
            continue
    return fields


def find_report(log_text: str) -> dict | None:
    """The last REPORT line of a log tail, parsed; None when the tail has none."""
    for line in reversed(log_text.splitlines()):
        if line.lstrip().startswith("REPORT "):
            return parse_report_line(line)
    return None


def find_telemetry(log_text: str) -> dict | None:
    """heartbench's EMF record in a log tail as row keys (threads, rss_bytes, env_id, ...)."""
    records = find_records(log_text)
    if not records:
        return None
    record = records[-1]
    return {key: record.get(name) for name, key in _EMF_FIELDS.items()}


def error_type_of(payload: object, report: dict | None, log_text: str = "") -> str:
    """The Lambda error type of a failed invocation.

    Order: the error payload's `errorType`; the REPORT line's `Error Type`; `Status: timeout` or a
    "Task timed out" message means Sandbox.Timedout; otherwise "Unhandled" (what the
    X-Amz-Function-Error header says when nothing more specific is known).
    """
    if isinstance(payload, dict) and isinstance(payload.get("errorType"), str):
        return payload["errorType"]
    report = report or {}
    if report.get("error_type"):
        return report["error_type"]
    message = payload.get("errorMessage", "") if isinstance(payload, dict) else ""
    if report.get("status") == "timeout" or "Task timed out" in str(message) \
            or "Task timed out" in log_text:
        return TIMEOUT_ERROR
    return "Unhandled"


def invocation_row(function: str, pair: str | None, variant: str | None, *, t_s: float,
                   status: str, response_time_ms: float, log_text: str = "",
                   payload: object = None, error_type: str | None = None,
                   request_id: str | None = None) -> dict:
    """One `invocations.jsonl` row (docs/design.md) from what the client saw plus the log tail.

    `status` is "ok", "error" or "throttled". For a function error without an explicit
    `error_type`, the type is read from the payload and the REPORT line (`error_type_of`).
    Fields the tail does not carry stay None (no EMF line: the telemetry columns are null).
    """
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    report = find_report(log_text) if log_text else None
    telemetry = find_telemetry(log_text) if log_text else None
    row = dict.fromkeys(INVOCATION_FIELDS)
    row.update(t_s=round(t_s, 6), function=function, pair=pair, variant=variant, status=status,
               response_time_ms=round(response_time_ms, 3))
    if report:
        row.update({k: v for k, v in report.items()
                    if k in row and k not in ("status", "error_type")})
    if telemetry:
        row.update(telemetry)
    if status == "error" and error_type is None:
        error_type = error_type_of(payload, report, log_text)
    row["error_type"] = error_type
    row["request_id"] = row["request_id"] or request_id
    if row["cold_start"] is None and report is not None:
        row["cold_start"] = report.get("init_duration_ms") is not None
    return row
