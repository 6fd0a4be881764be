"""Messages passed between the front door, the pools and the environments."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid


def new_request_id() -> str:
    return str(uuid.uuid4())


@dataclasses.dataclass
class Invocation:
    function: str
    payload: bytes
    invocation_type: str = "RequestResponse"    # or "Event"
    request_id: str = dataclasses.field(default_factory=new_request_id)
    client_context: str | None = None            # decoded JSON text
    future: asyncio.Future | None = None
    log: bytearray = dataclasses.field(default_factory=bytearray)
    started_s: float = 0.0                       # perf_counter at dispatch
    deadline_ms: int = 0
    init_duration_ms: float | None = None        # set on a cold start

    def __post_init__(self):
        if self.future is None:
            self.future = asyncio.get_running_loop().create_future()


@dataclasses.dataclass
class InvocationResult:
    request_id: str
    payload: bytes
    function_error: bool
    error_type: str | None
    log: bytes
    env_id: str | None
    duration_ms: float = 0.0


def error_payload(message: str, error_type: str, stack: list[str] | None = None) -> bytes:
    body = {"errorMessage": message, "errorType": error_type}
    if stack is not None:
        body["stackTrace"] = stack
    return json.dumps(body).encode()


class Throttled(Exception):
    """No environment can take the invocation: 429 TooManyRequestsException."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ServiceError(Exception):
    """The emulator could not run the invocation (e.g. no resources to start an environment): 500."""
