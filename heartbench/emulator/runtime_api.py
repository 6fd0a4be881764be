"""The Lambda Runtime API of one environment (base path /2018-06-01).

Handlers are thin: validate the request, then ask the environment for the state transition; a refused
transition is a 403 naming both states. There is no health endpoint: unknown paths are 404.
"""

from __future__ import annotations

import re

from heartbench.emulator.httpserver import Request, Response
from heartbench.emulator.lifecycle import TransitionError

PREFIX = "/2018-06-01/runtime"
_INVOCATION = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")
ERROR_TYPE_HEADER = "lambda-runtime-function-error-type"


def _not_found(path: str) -> Response:
    return Response.json(404, {"errorMessage": f"Unknown Runtime API path {path}", "errorType": "NotFound"})


def _refused(err: TransitionError) -> Response:
    return Response.json(403, {"errorMessage": str(err), "errorType": "InvalidStateTransition"})


class RuntimeApi:
    def __init__(self, environment):
        self.env = environment

    async def handle(self, request: Request) -> Response:
        path = request.path
        if path == f"{PREFIX}/invocation/next":
            if request.method != "GET":
                return Response.json(405, {"errorMessage": "use GET", "errorType": "MethodNotAllowed"})
            try:
                future = self.env.on_next()
            except TransitionError as err:
                return _refused(err)
            return await future
        match = _INVOCATION.match(path)
        if match:
            if request.method != "POST":
                return Response.json(405, {"errorMessage": "use POST", "errorType": "MethodNotAllowed"})
            request_id, kind = match.groups()
            try:
                if kind == "response":
                    return self.env.on_response(request_id, request.body)
                return self.env.on_error(request_id, request.body, request.headers.get(ERROR_TYPE_HEADER))
            except TransitionError as err:
                return _refused(err)
        if path == f"{PREFIX}/init/error":
            if request.method != "POST":
                return Response.json(405, {"errorMessage": "use POST", "errorType": "MethodNotAllowed"})
            return self.env.on_init_error(request.body, request.headers.get(ERROR_TYPE_HEADER))
        return _not_found(path)
