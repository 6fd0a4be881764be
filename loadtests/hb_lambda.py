"""A Locust client and user for AWS Lambda's Invoke API, in the style of Locust's contrib clients.

`LambdaClient.invoke(function, event)` calls Invoke (RequestResponse, LogType=Tail), times it and
fires Locust's `request` event:

- name: the function name; response_time: client-side milliseconds; response_length: payload bytes;
- request_type "invoke", or "throttled" for 429 TooManyRequestsException, so throttles get their own
  line in Locust's statistics instead of hiding among the invocations;
- exception: None on success; for a function error a `FunctionError` named by the Lambda error type
  (Sandbox.Timedout, Runtime.OutOfMemory, Runtime.ExitError, or the handler's own errorType);
  `Throttled`; `InvokeError` for any other client-side failure (named by its error code);
- context: {"invocation": row}, the `invocations.jsonl` row built by the in-band collector from
  the log tail (REPORT and EMF lines), for listeners that record runs.

boto3 under gevent (Locust runs every user as a greenlet):

- Patch order: `import locust` monkey-patches socket/ssl/threading; boto3, botocore and urllib3 must
  be imported afterwards so that they hold the patched modules. This module imports locust first,
  and Locust itself imports it before it loads any locustfile.
- Connection pool: all users of a process share one boto3 client (thread- and greenlet-safe; a
  client per user would cost ~3 ms and its own pool each). Its pool must hold at least one
  connection per concurrent user (`POOL_CONNECTIONS`).
- Retries off, and a read timeout above the function timeout plus a cold start (up to 10 s of
  init), so that a slow invocation is reported by Lambda as Sandbox.Timedout rather than by the
  client as a read timeout. The client and the invocation itself are heartbench.clients'.
"""

from __future__ import annotations

from locust import User  # first: gevent monkey-patching happens on this import

import json
import threading
import time
import uuid
from collections.abc import Mapping

from heartbench.clients import (DEFAULT_REGION, FUNCTION_ERROR, REFUSED,
                                THROTTLED as THROTTLED_OUTCOME, invoke_recorded, lambda_client)

INVOKE = "invoke"
THROTTLED = "throttled"
POOL_CONNECTIONS = 512       # >= concurrent users per Locust process
INIT_LIMIT_S = 10.0          # Lambda's init phase limit, paid on a cold start
READ_TIMEOUT_MARGIN_S = 20.0


class LambdaError(Exception):
    """A failed invocation; str() is the Lambda error type, which Locust groups failures by."""

    def __init__(self, error_type: str, message: str = ""):
        super().__init__(error_type)
        self.error_type = error_type
        self.message = message


class FunctionError(LambdaError):
    """The function failed (X-Amz-Function-Error): handler error, timeout, OOM, crash."""


class Throttled(LambdaError):
    """429 TooManyRequestsException: no environment free at the function's concurrency."""


class InvokeError(LambdaError):
    """The Invoke call itself failed (unknown function, connection refused, read timeout, ...)."""


def read_timeout_for(function_timeout_s: float) -> float:
    return function_timeout_s + INIT_LIMIT_S + READ_TIMEOUT_MARGIN_S


class _SharedClients:
    """One boto3 client per (endpoint, settings) in this process, counted by its LambdaClients."""

    def __init__(self):
        self._lock = threading.Lock()
        self._clients: dict[tuple, list] = {}  # key -> [boto client, reference count]

    def acquire(self, key: tuple, factory):
        with self._lock:
            entry = self._clients.get(key)
            if entry is None:
                entry = self._clients[key] = [factory(), 0]
            entry[1] += 1
            return entry[0]

    def release(self, key: tuple) -> None:
        with self._lock:
            entry = self._clients.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del self._clients[key]
                entry[0].close()


_shared = _SharedClients()
_FAILURES = {FUNCTION_ERROR: FunctionError, THROTTLED_OUTCOME: Throttled, REFUSED: InvokeError}


def scheduled_event(sequence: int, region: str = DEFAULT_REGION) -> dict:
    """An EventBridge "Scheduled Event", what a heartbeat function receives from its schedule."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
            "source": "heartbench", "account": "000000000000",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": region,
            "resources": [], "detail": {"sequence": sequence}}


class LambdaClient:
    """Invokes functions and reports each call to Locust (see the module docstring).

    `functions` maps function names to {"pair", "variant"} for the invocation rows.
    """

    def __init__(self, request_event, *, endpoint_url: str | None,
                 functions: Mapping[str, Mapping] | None = None, region_name: str | None = None,
                 pool_connections: int = POOL_CONNECTIONS, read_timeout_s: float = 60.0):
        self.request_event = request_event
        self.functions = functions or {}
        self._key = (endpoint_url, region_name, pool_connections, read_timeout_s)
        self.boto = _shared.acquire(self._key, lambda: lambda_client(
            endpoint_url, region_name=region_name, pool_size=pool_connections,
            read_timeout_s=read_timeout_s))
        self.closed = False

    def invoke(self, function: str, event: object = None) -> dict:
        """Invoke `function` once with `event` (JSON-serialisable or bytes); returns the row."""
        body = event if isinstance(event, bytes) else json.dumps(event or {}).encode()
        meta = self.functions.get(function, {})
        done = invoke_recorded(self.boto, function, body, meta.get("pair"), meta.get("variant"))
        row = done.row
        failure = _FAILURES.get(done.outcome)
        self.request_event.fire(
            request_type=THROTTLED if done.outcome == THROTTLED_OUTCOME else INVOKE, name=function,
            start_time=done.started_s, response_time=done.response_time_ms,
            response_length=done.response_bytes, response=None, context={"invocation": row},
            exception=failure(row["error_type"], done.message) if failure else None)
        return row

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            _shared.release(self._key)


class LambdaUser(User):
    """A Locust user with a `LambdaClient` in `self.client`, closed in `on_stop`.

    The endpoint is `self.host` (Locust's --host): a Lambda-compatible URL, or empty / "aws" for
    AWS itself. Override `build_client` to choose otherwise.
    """

    abstract = True
    region_name: str | None = None
    function_timeout_s: float = 900.0
    functions: Mapping[str, Mapping] = {}

    def __init__(self, environment):
        super().__init__(environment)
        self.client = self.build_client()

    def build_client(self) -> LambdaClient:
        endpoint = None if self.host in (None, "", "aws") else self.host
        return LambdaClient(self.environment.events.request, endpoint_url=endpoint,
                            functions=self.functions, region_name=self.region_name,
                            read_timeout_s=read_timeout_for(self.function_timeout_s))

    def on_stop(self) -> None:
        self.client.close()
