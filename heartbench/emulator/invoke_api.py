"""The front door: Lambda's Invoke API (what boto3's `lambda.invoke` sends) plus introspection.

    POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=]
    GET  /_heartbench/environments      one object per live environment
    GET  /_heartbench/destinations      destination records of finished Event invocations
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid

from heartbench.emulator import logs
from heartbench.emulator.httpserver import Request, Response
from heartbench.emulator.invocation import Invocation, ServiceError, Throttled, new_request_id
from heartbench.emulator.options import (ASYNC_PAYLOAD_LIMIT_BYTES, CLIENT_CONTEXT_LIMIT_BYTES,
                                         SYNC_PAYLOAD_LIMIT_BYTES)

_INVOKE = re.compile(r"^/2015-03-31/functions/(.+)/invocations/?$")
_ARN = re.compile(r"^(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:)?(?:\d{12}:function:)?([A-Za-z0-9_-]+)(?::([$A-Za-z0-9_-]+))?$")
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
LOG_TYPES = ("None", "Tail")


def api_error(status: int, error_type: str, message: str, kind: str = "User", **extra) -> Response:
    """An error as the Lambda service returns it: JSON body plus x-amzn-ErrorType."""
    body = {"Type": kind, "message": message, **extra}
    return Response.json(status, body, {"x-amzn-ErrorType": error_type,
                                        "x-amzn-RequestId": str(uuid.uuid4())})


class FrontDoor:
    def __init__(self, emulator):
        self.emulator = emulator

    async def handle(self, request: Request) -> Response:
        if request.path == "/_heartbench/environments" and request.method == "GET":
            return Response.json(200, self.emulator.describe_environments())
        if request.path == "/_heartbench/destinations" and request.method == "GET":
            return Response.json(200, list(self.emulator.account.destinations))
        match = _INVOKE.match(request.path)
        if not match:
            return api_error(404, "UnknownOperationException", f"Unknown operation {request.method} {request.path}")
        if request.method != "POST":
            return api_error(405, "UnknownOperationException", f"Use POST for {request.path}")
        return await self._invoke(request, match.group(1))

    def _resolve(self, name_or_arn: str, qualifier: str | None):
        match = _ARN.match(name_or_arn)
        name, arn_qualifier = (match.group(1), match.group(2)) if match else (name_or_arn, None)
        qualifier = qualifier or arn_qualifier
        pool = self.emulator.pools.get(name)
        if pool is None or qualifier not in (None, "$LATEST"):
            arn = self.emulator.options.function_arn(name) + (f":{qualifier}" if qualifier else "")
            return None, api_error(404, "ResourceNotFoundException", f"Function not found: {arn}")
        return pool, None

    async def _invoke(self, request: Request, name_or_arn: str) -> Response:
        pool, error = self._resolve(name_or_arn, request.query.get("Qualifier"))
        if error:
            return error
        headers = request.headers
        invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
        log_type = headers.get("x-amz-log-type", "None")
        if invocation_type not in INVOCATION_TYPES:
            return api_error(400, "InvalidParameterValueException",
                             f"Invalid InvocationType {invocation_type!r}: use one of {', '.join(INVOCATION_TYPES)}")
        if log_type not in LOG_TYPES:
            return api_error(400, "InvalidParameterValueException",
                             f"Invalid LogType {log_type!r}: use one of {', '.join(LOG_TYPES)}")
        limit = ASYNC_PAYLOAD_LIMIT_BYTES if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT_BYTES
        if len(request.body) > limit:
            return api_error(413, "RequestEntityTooLargeException",
                             f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        payload = request.body or b"{}"
        try:
            json.loads(payload)
        except ValueError as e:
            return api_error(400, "InvalidRequestContentException",
                             f"Could not parse request body into json: Could not parse payload into json: {e}")
        client_context, error = _client_context(headers.get("x-amz-client-context"))
        if error:
            return error
        if invocation_type == "DryRun":
            return Response(204, b"", {"x-amzn-RequestId": new_request_id()})
        if invocation_type == "Event":
            request_id = new_request_id()
            pool.enqueue_event(lambda: Invocation(pool.function.name, payload, "Event", request_id,
                                                  client_context), payload, request_id)
            return Response(202, b"", {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"})
        inv = Invocation(pool.function.name, payload, "RequestResponse", client_context=client_context)
        try:
            result = await pool.invoke(inv)
        except Throttled as t:
            return api_error(429, "TooManyRequestsException", "Rate Exceeded.", Reason=t.reason)
        except ServiceError as e:
            return api_error(500, "ServiceException", str(e), kind="Service")
        out = {"Content-Type": "application/json", "x-amzn-RequestId": inv.request_id,
               "X-Amz-Executed-Version": "$LATEST"}
        if result.function_error:
            out["X-Amz-Function-Error"] = "Unhandled"
        if log_type == "Tail":
            out["X-Amz-Log-Result"] = base64.b64encode(logs.tail(result.log)).decode()
        return Response(200, result.payload, out)


def _client_context(value: str | None):
    if not value:
        return None, None
    if len(value) > CLIENT_CONTEXT_LIMIT_BYTES:
        return None, api_error(400, "InvalidParameterValueException",
                               f"Client context must be at most {CLIENT_CONTEXT_LIMIT_BYTES} bytes")
    try:
        text = base64.b64decode(value, validate=True).decode()
        json.loads(text)
    except (binascii.Error, ValueError):
        return None, api_error(400, "InvalidRequestContentException",
                               "Client context must be a valid Base64-encoded JSON object.")
    return text, None
