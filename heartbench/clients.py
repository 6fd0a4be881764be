"""The Lambda client every part of heartbench invokes through, and one recorded invocation.

`lambda_client` is tuned for measuring, not for hiding failures:
- retries off (`total_max_attempts` 1): a retried throttle or timeout would hide exactly what is
  being measured, and the caller's timing would include botocore's back-off sleeps;
- a connection pool as large as the number of concurrent callers (`pool_size`), otherwise surplus
  connections are closed after every call and each invocation pays a new TCP handshake;
- placeholder credentials for a loopback endpoint when none are configured (local endpoints accept
  any); endpoint_url None means AWS itself, with the default credential chain.

`invoke_recorded` calls Invoke (RequestResponse, LogType=Tail) once and returns the
`invocations.jsonl` row built by the in-band collector from the log tail, with how the call ended.
The load test (under gevent), `heartbench check` (threads) and the tests share both, so the code
path that talks to AWS is the one exercised against local endpoints.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import urllib.parse

import boto3
import botocore.config
import botocore.exceptions

from heartbench.collectors.logtail import decode_log_result, invocation_row

DEFAULT_REGION = "us-east-1"
CONNECT_TIMEOUT_S = 5.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

OK, FUNCTION_ERROR, THROTTLED, REFUSED = "ok", "function-error", "throttled", "refused"


def lambda_client(endpoint_url: str | None, *, region_name: str | None = None, pool_size: int = 10,
                  read_timeout_s: float = 60.0):
    """A Lambda client for `endpoint_url` (None: AWS itself)."""
    region = region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
        or DEFAULT_REGION
    config = botocore.config.Config(
        max_pool_connections=pool_size, connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=read_timeout_s, retries={"mode": "standard", "total_max_attempts": 1},
        tcp_keepalive=True)
    session = boto3.session.Session()
    credentials = {}
    host = urllib.parse.urlsplit(endpoint_url).hostname if endpoint_url else None
    if host in _LOOPBACK and session.get_credentials() is None:
        credentials = {"aws_access_key_id": "heartbench", "aws_secret_access_key": "heartbench"}
    return session.client("lambda", endpoint_url=endpoint_url, region_name=region, config=config,
                          **credentials)


@dataclasses.dataclass
class Invoked:
    row: dict               # the invocations.jsonl row
    outcome: str            # OK, FUNCTION_ERROR, THROTTLED (429) or REFUSED (the call itself failed)
    message: str            # the errorMessage of a failure, "" otherwise
    response_time_ms: float # client side, as measured (the row holds it rounded)
    response_bytes: int
    started_s: float        # epoch seconds when the call was made


def invoke_recorded(boto, function: str, body: bytes, pair: str | None = None,
                    variant: str | None = None) -> Invoked:
    """Invoke `function` once with the JSON `body`; never raises for what Lambda answers."""
    started_s, t0 = time.time(), time.perf_counter()
    outcome, error_type, payload, result, log_text, request_id = OK, None, None, b"", "", None
    try:
        response = boto.invoke(FunctionName=function, InvocationType="RequestResponse",
                               LogType="Tail", Payload=body)
        result = response["Payload"].read()
        log_text = decode_log_result(response.get("LogResult"))
        request_id = response.get("ResponseMetadata", {}).get("RequestId")
        if response.get("FunctionError"):
            outcome, payload = FUNCTION_ERROR, _json_or_none(result)
    except botocore.exceptions.ClientError as e:
        error = e.response.get("Error", {})
        error_type = error.get("Code") or "ClientError"
        payload = {"errorMessage": error.get("Message", "")}
        throttled = (e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429
                     or error_type == "TooManyRequestsException")
        outcome = THROTTLED if throttled else REFUSED
    except botocore.exceptions.BotoCoreError as e:
        outcome, error_type, payload = REFUSED, type(e).__name__, {"errorMessage": str(e)}
    response_time_ms = (time.perf_counter() - t0) * 1000
    status = {OK: "ok", THROTTLED: "throttled"}.get(outcome, "error")
    row = invocation_row(function, pair, variant, t_s=time.time(), status=status,
                         response_time_ms=response_time_ms, log_text=log_text, payload=payload,
                         error_type=error_type, request_id=request_id)
    message = str(payload.get("errorMessage", "")) if isinstance(payload, dict) and outcome != OK else ""
    return Invoked(row, outcome, message, response_time_ms, len(result), started_s)


def _json_or_none(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return None
