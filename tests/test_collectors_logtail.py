"""In-band collector: REPORT and EMF lines parsed from real-format log tails."""

import base64
import json

import pytest

from heartbench.collectors.growth import GrowthTable
from heartbench.collectors.logtail import (
    decode_log_result, error_type_of, find_report, find_telemetry, invocation_row,
    parse_report_line,
)
from heartbench.emulator import logs
from heartbench.rundir import INVOCATION_FIELDS
from heartbench.telemetry import emf

REQUEST_ID = "8f5f0b0e-7c9a-4b9e-a1d2-0c3b4a5d6e7f"
ENV_ID = "0123456789abcdef0123456789abcdef"
# A REPORT line exactly as CloudWatch shows it for a cold start (tabs between fields).
COLD_REPORT = (f"REPORT RequestId: {REQUEST_ID}\tDuration: 15.74 ms\tBilled Duration: 16 ms\t"
               "Memory Size: 128 MB\tMax Memory Used: 56 MB\tInit Duration: 130.49 ms\t")


def emf_line(**overrides) -> str:
    metrics = {"Threads": 12, "Tasks": 3, "RSS": 52428800, "FDs": 9, "GCObjects": 40211,
               "Heartbeats": 2}
    context = {"pair": "ticker", "env_id": ENV_ID, "cold_start": False, "invocation": 17,
               "request_id": REQUEST_ID}
    metrics.update({k: v for k, v in overrides.items() if k in metrics})
    context.update({k: v for k, v in overrides.items() if k in context})
    record = emf.record(1700000000000, {"function": "ticker-leaky", "variant": "leaky"},
                        metrics, context)
    return emf.line(record)


def tail(*lines: str) -> str:
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def test_cold_report_line_parsed_with_units_stripped():
    assert parse_report_line(COLD_REPORT) == {
        "request_id": REQUEST_ID, "duration_ms": 15.74, "billed_duration_ms": 16,
        "memory_size_mb": 128, "max_memory_used_mb": 56, "init_duration_ms": 130.49}


def test_emulator_report_line_with_status_and_error_type():
    line = logs.report_line(REQUEST_ID, 3001.5, 128, 61, status="timeout",
                            error_type="Sandbox.Timedout")
    fields = parse_report_line(line)
    assert fields["duration_ms"] == 3001.5
    assert fields["billed_duration_ms"] == 3002
    assert fields["status"] == "timeout"
    assert fields["error_type"] == "Sandbox.Timedout"
    assert "init_duration_ms" not in fields


def test_not_a_report_line_is_refused():
    with pytest.raises(ValueError, match="not a REPORT line"):
        parse_report_line(f"END RequestId: {REQUEST_ID}")


def test_telemetry_from_a_log_tail_with_noise_and_a_truncated_first_line():
    text = tail("ed-off first line of the 4 KB tail {\"_aws\": ",
                logs.start_line(REQUEST_ID), "heartbeat written", emf_line(),
                logs.end_line(REQUEST_ID), COLD_REPORT)
    assert find_telemetry(text) == {
        "threads": 12, "tasks": 3, "rss_bytes": 52428800, "fds": 9, "gc_objects": 40211,
        "heartbeats": 2, "env_id": ENV_ID, "env_invocation": 17, "cold_start": False}
    assert find_report(text)["init_duration_ms"] == 130.49


def test_tail_without_emf_or_report():
    assert find_telemetry("START RequestId: x\nhello\n") is None
    assert find_report("START RequestId: x\nhello\n") is None


def test_decode_log_result():
    text = tail(logs.start_line(REQUEST_ID), emf_line())
    encoded = base64.b64encode(text.encode()).decode()
    assert decode_log_result(encoded) == text
    assert decode_log_result(None) == ""
    assert decode_log_result("") == ""


@pytest.mark.parametrize("payload, report, text, expected", [
    ({"errorType": "ConditionalCheckFailedException", "errorMessage": "x"}, None, "",
     "ConditionalCheckFailedException"),
    ({"errorMessage": "2024-12-04T14:00:00.000Z id Task timed out after 3.00 seconds"}, None, "",
     "Sandbox.Timedout"),
    (None, {"status": "timeout"}, "", "Sandbox.Timedout"),
    (None, {"error_type": "Runtime.OutOfMemory"}, "", "Runtime.OutOfMemory"),
    ({"errorMessage": "boom"}, None, "", "Unhandled"),
])
def test_error_type_of(payload, report, text, expected):
    assert error_type_of(payload, report, text) == expected


def test_invocation_row_ok_has_every_schema_field():
    text = tail(logs.start_line(REQUEST_ID), emf_line(), logs.end_line(REQUEST_ID), COLD_REPORT)
    row = invocation_row("ticker-leaky", "ticker", "leaky", t_s=1700000000.1234567, status="ok",
                         response_time_ms=18.23456, log_text=text)
    assert tuple(row) == INVOCATION_FIELDS
    assert row["t_s"] == 1700000000.123457
    assert row["response_time_ms"] == 18.235
    assert row["request_id"] == REQUEST_ID
    assert row["duration_ms"] == 15.74 and row["init_duration_ms"] == 130.49
    assert row["threads"] == 12 and row["env_invocation"] == 17
    assert row["cold_start"] is False  # telemetry wins over the REPORT line's Init Duration
    assert row["error_type"] is None
    json.dumps(row)


def test_invocation_row_timeout_without_emf():
    report = logs.report_line(REQUEST_ID, 3000.2, 128, 60, status="timeout")
    text = tail(logs.start_line(REQUEST_ID), logs.timeout_message(REQUEST_ID, 3), report)
    row = invocation_row("deadline-leaky", "deadline", "leaky", t_s=1.0, status="error",
                         response_time_ms=3010.0, log_text=text,
                         payload={"errorMessage": "Task timed out after 3.00 seconds"})
    assert row["error_type"] == "Sandbox.Timedout"
    assert row["threads"] is None and row["env_id"] is None
    assert row["cold_start"] is False


def test_invocation_row_throttled_and_bad_status():
    row = invocation_row("ticker-fixed", "ticker", "fixed", t_s=2.0, status="throttled",
                         response_time_ms=1.5, error_type="TooManyRequestsException",
                         request_id="r-1")
    assert row["error_type"] == "TooManyRequestsException" and row["request_id"] == "r-1"
    assert row["duration_ms"] is None
    with pytest.raises(ValueError, match="status 'fine' is not one of ok, error, throttled"):
        invocation_row("f", None, None, t_s=0, status="fine", response_time_ms=0)


def test_growth_table_initial_peak_increase():
    table = GrowthTable([{"function": "ticker-leaky", "pair": "ticker", "variant": "leaky"},
                         {"function": "ticker-fixed", "pair": "ticker", "variant": "fixed"}])
    for i, threads in enumerate([2, 3, 5, 4]):
        table.add({"function": "ticker-leaky", "status": "ok", "threads": threads, "tasks": 0,
                   "rss_bytes": (40 + i) * 2**20, "fds": 8, "env_id": "e1"})
    table.add({"function": "ticker-leaky", "status": "throttled"})
    rows = {r["function"]: r for r in table.rows()}
    leaky = rows["ticker-leaky"]
    assert leaky["threads"] == {"initial": 2, "peak": 5, "last": 4, "increase": 3}
    assert leaky["invocations"] == 5 and leaky["throttled"] == 1 and leaky["environments"] == 1
    assert rows["ticker-fixed"]["invocations"] == 0
    text = table.format()
    assert "2 / 5 / +3" in text and "40.0 / 43.0 / +3.0" in text
    assert text.splitlines()[0].startswith("function")


def test_growth_initial_is_the_median_of_each_environments_first_value():
    from heartbench.collectors.growth import GrowthTable
    table = GrowthTable([{"function": "f", "pair": "p", "variant": "leaky"}])
    for env_id, threads in [("a", 2), ("b", 4), ("a", 9), ("c", 3), ("b", 5)]:
        table.add({"function": "f", "env_id": env_id, "threads": threads, "status": "ok"})
    row = table.rows()[0]
    assert row["threads"] == {"initial": 3, "peak": 9, "last": 5, "increase": 6}
    assert row["environments"] == 3
