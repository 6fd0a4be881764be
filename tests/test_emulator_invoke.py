"""The emulator through boto3, end to end: real runtime processes behind real HTTP on loopback."""

from __future__ import annotations

import base64
import json
import re
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import settled

REPORT = re.compile(r"REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>[\d.]+) ms\t"
                    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<size>\d+) MB\t"
                    r"Max Memory Used: (?P<used>\d+) MB\t(?:Init Duration: (?P<init>[\d.]+) ms\t)?"
                    r"(?:Status: (?P<status>\w+)\t)?(?:Error Type: (?P<etype>[\w.]+)\t)?$", re.M)


def invoke(client, name, payload=None, **kw):
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}), LogType="Tail", **kw)
    body = response["Payload"].read()
    tail = base64.b64decode(response["LogResult"]).decode()
    return response, json.loads(body) if body else None, tail


def test_tail_carries_start_end_and_report(client):
    response, body, tail = invoke(client, "echo", {"hello": "world"})
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert body["event"] == {"hello": "world"}
    assert body["function"] == "echo" and body["memory"] == "128"
    assert 0 < body["remaining_ms"] <= 5000
    lines = tail.splitlines()
    assert lines[0] == f"START RequestId: {body['request_id']} Version: $LATEST"
    assert "echo {'hello': 'world'}" in lines
    assert f"END RequestId: {body['request_id']}" in lines
    report = REPORT.search(tail)
    assert report and report["id"] == body["request_id"]
    assert int(report["billed"]) >= float(report["duration"])
    assert report["size"] == "128" and int(report["used"]) > 5


def test_init_duration_only_on_cold_start_and_environment_reused(client):
    first = [invoke(client, "noop") for _ in range(5)]
    inits = [REPORT.search(t)["init"] for _, _, t in first]
    assert inits.count(None) >= 3  # sequential calls reuse the warm environment


def test_function_error_is_200_with_function_error_header(client):
    response, body, tail = invoke(client, "fail", {"n": 7})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "boom 7"
    assert "[ERROR] ValueError: boom 7" in tail


def test_timeout_resets_environment(client):
    response, body, tail = invoke(client, "sleepy", {"sleep_s": 5})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z [0-9a-f-]{36} Task timed out after 1.00 seconds",
                        body["errorMessage"])
    assert body["errorMessage"] in tail
    report = REPORT.search(tail)
    assert report["status"] == "timeout" and report["etype"] is None  # newer REPORT lines end there
    assert 1000 <= float(report["duration"]) < 2000
    _, _, tail2 = invoke(client, "sleepy", {"sleep_s": 0})
    assert REPORT.search(tail2)["init"] is not None  # the next invocation is a cold start


def test_out_of_memory_kills_environment(client):
    response, body, tail = invoke(client, "hog", {"mb": 400})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    report = REPORT.search(tail)
    assert report["status"] == "error" and report["etype"] == "Runtime.OutOfMemory"
    assert int(report["used"]) >= 128


def test_crash_reports_exit_status(client):
    response, body, tail = invoke(client, "crash", {"status": 3})
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    assert REPORT.search(tail)["etype"] == "Runtime.ExitError"


def test_init_error_fails_the_invocation(client):
    response, body, tail = invoke(client, "broken")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'broken_import'" in body["errorMessage"]
    assert re.search(r"INIT_REPORT Init Duration: [\d.]+ ms\tPhase: init\tStatus: error\t"
                     r"Error Type: Runtime.ImportModuleError", tail)


def test_init_timeout_fails_the_invocation(client):
    started = time.monotonic()
    response, body, tail = invoke(client, "slowinit")
    assert time.monotonic() - started < 5
    assert body["errorType"] == "Sandbox.Timedout"
    assert re.search(r"INIT_REPORT Init Duration: [\d.]+ ms\tPhase: init\tStatus: timeout", tail)


def test_throttled_beyond_reserved_concurrency(client):
    results, errors = [], []

    def call():
        try:
            results.append(invoke(client, "sleepy", {"sleep_s": 0.6})[0]["StatusCode"])
        except ClientError as e:
            errors.append(e.response)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) + len(errors) == 4  # every invocation answered exactly once
    assert len(results) == 2
    assert {e["Error"]["Code"] for e in errors} == {"TooManyRequestsException"}
    assert {e["Reason"] for e in errors} == {"ReservedFunctionConcurrentInvocationLimitExceeded"}
    assert {e["ResponseMetadata"]["HTTPStatusCode"] for e in errors} == {429}


def test_unknown_function_is_404(client):
    with pytest.raises(client.exceptions.ResourceNotFoundException) as err:
        client.invoke(FunctionName="nope", Payload=b"{}")
    assert err.value.response["Error"]["Message"] == \
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="echo", Qualifier="7", Payload=b"{}")


def test_arn_names_the_function(client):
    response = client.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:noop:$LATEST")
    assert response["StatusCode"] == 200


def test_payload_limits_and_json(client):
    # The wire says RequestEntityTooLargeException (botocore's model calls it RequestTooLargeException).
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="noop", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert err.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert err.value.response["Error"]["Message"] == \
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="noop", InvocationType="Event", Payload=b'"' + b"x" * (1024 * 1024) + b'"')
    assert err.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    with pytest.raises(client.exceptions.InvalidRequestContentException) as err:
        client.invoke(FunctionName="noop", Payload=b"not json")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_response_too_large(client):
    response, body, tail = invoke(client, "big")
    assert body["errorType"] == "Function.ResponseSizeTooLarge"


def test_dry_run(client):
    assert client.invoke(FunctionName="noop", InvocationType="DryRun")["StatusCode"] == 204


def test_event_retries_function_errors_twice(client, emulator):
    response = client.invoke(FunctionName="fail", InvocationType="Event", Payload=json.dumps({"n": 9}))
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 20
    record = None
    while time.monotonic() < deadline and record is None:
        import urllib.request
        with urllib.request.urlopen(f"{emulator.url}/_heartbench/destinations") as r:
            records = [d for d in json.load(r) if d["requestContext"]["requestId"] == request_id]
        record = records[0] if records else None
        time.sleep(0.05)
    assert record is not None, "no destination record within 20 s"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"n": 9}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "boom 9"


def test_custom_runtime_and_runtime_api_statuses(client):
    first = invoke(client, "custom", {"x": 1})[1]
    probes = invoke(client, "custom", {"x": 2})[1]
    assert first["stale_id"] is None
    assert probes["ping"] == 404            # there is no health endpoint
    assert probes["wrong_id"] == 400
    assert probes["init_error_now"] == 403  # init is over
    assert probes["stale_id"] == 400
    headers = probes["headers"]
    assert set(headers) >= {"lambda-runtime-aws-request-id", "lambda-runtime-deadline-ms",
                            "lambda-runtime-invoked-function-arn", "lambda-runtime-trace-id"}
    assert headers["lambda-runtime-invoked-function-arn"].endswith(":function:custom")
    assert probes["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "custom"
    assert probes["env"]["_HANDLER"] == "function.handler"
    response, body, _ = invoke(client, "custom", {"error": True})
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorMessage": "custom failure", "errorType": "Custom.Error"}


def test_introspection_lists_environments(emulator, client):
    invoke(client, "echo")
    echo = settled(emulator, function="echo")
    assert echo and set(echo[0]) >= {"id", "function", "pid", "state", "invocations", "init_duration_ms",
                                     "last_error", "log_stream"}
    assert echo[0]["state"] == "FROZEN"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", echo[0]["log_stream"])
