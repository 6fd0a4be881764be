"""The environments of one function: reuse a warm one, cold-start another up to the reserved
concurrency, throttle beyond it; and the queue of asynchronous (Event) invocations with retries."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import logging
import time

from heartbench.config import FunctionConfig
from heartbench.emulator.environment import Environment
from heartbench.emulator.invocation import Invocation, InvocationResult, ServiceError, Throttled
from heartbench.emulator.lifecycle import IDLE_STATES, State

log = logging.getLogger(__name__)

THROTTLE_BACKOFF_START_S = 1.0
THROTTLE_BACKOFF_MAX_S = 300.0
DESTINATION_RECORDS_KEPT = 1000


class Account:
    """What all functions share: the account-level concurrency limit and the destination records."""

    def __init__(self, limit: int):
        self.limit = limit
        self.live = 0
        self.destinations: collections.deque = collections.deque(maxlen=DESTINATION_RECORDS_KEPT)


class FunctionPool:
    def __init__(self, function: FunctionConfig, options, account: Account):
        self.function = function
        self.options = options
        self.account = account
        self.environments: list[Environment] = []
        self.idle: list[Environment] = []          # a stack: the most recently used is reused first
        self.waiters: collections.deque[tuple[Invocation, asyncio.Future]] = collections.deque()
        self.tasks: set[asyncio.Task] = set()
        self.closing = False

    def track(self, task: asyncio.Task) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # --------------------------------------------------------------- synchronous invocations
    async def invoke(self, inv: Invocation) -> InvocationResult:
        """Run one invocation; raises Throttled when no environment can take it, ServiceError when the
        emulator cannot start one (or is shutting down)."""
        if self.closing:
            raise ServiceError("the emulator is shutting down")
        env = self._take_idle()
        if env is not None:
            env.dispatch(inv)
            return await inv.future
        if any(e.state == State.RESPONDED for e in self.environments):
            # An environment has answered and is about to ask for its next event: hand over to it.
            handed = asyncio.get_running_loop().create_future()
            entry = (inv, handed)
            self.waiters.append(entry)
            try:
                await asyncio.wait_for(asyncio.shield(handed), self.options.handoff_grace_s)
            except asyncio.TimeoutError:
                pass
            if handed.done():
                return await inv.future
            self.waiters.remove(entry)
            if self.closing:
                raise ServiceError("the emulator is shutting down")
        if len(self.environments) < self.function.reserved_concurrency and self.account.live < self.account.limit:
            await self._cold_start(inv)
            return await inv.future
        if len(self.environments) >= self.function.reserved_concurrency:
            raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        raise Throttled("ConcurrentInvocationLimitExceeded")

    def _take_idle(self) -> Environment | None:
        while self.idle:
            env = self.idle.pop()
            if env.state in IDLE_STATES:
                return env
        return None

    def _new_environment(self) -> Environment:
        """Counted at once, so that no other request sees its slot as free before it starts."""
        env = Environment(self.function, self.options, self)
        self.environments.append(env)
        self.account.live += 1
        return env

    async def _cold_start(self, inv: Invocation, env: Environment | None = None) -> None:
        env = env or self._new_environment()
        try:
            await env.start(inv)
        except Exception as e:  # out of file descriptors, ports, memory...: answer, free the slot
            log.error("%s: cannot start an environment: %s", self.function.name, e)
            env.discard(f"Runtime.StartError: {e}")
            if not inv.future.done():
                inv.future.set_exception(ServiceError(f"cannot start an execution environment: {e}"))

    def on_environment_idle(self, env: Environment) -> bool:
        """The environment waits in invocation/next. Returns True if it got an event at once."""
        while self.waiters:
            inv, handed = self.waiters.popleft()
            if handed.done():
                continue
            handed.set_result(True)
            env.dispatch(inv)
            return True
        self.idle.append(env)
        return False

    def on_environment_gone(self, env: Environment) -> None:
        if env in self.environments:
            self.environments.remove(env)
            self.account.live -= 1
        if env in self.idle:
            self.idle.remove(env)
        if self.waiters and not self.closing:
            inv, handed = self.waiters.popleft()
            if not handed.done():
                handed.set_result(True)
                fresh = self._new_environment()
                self.track(asyncio.get_running_loop().create_task(self._cold_start(inv, fresh)))

    # --------------------------------------------------------------- housekeeping
    def reap_idle(self, now_s: float) -> None:
        if self.options.idle_timeout_s is None:
            return
        for env in list(self.idle):
            if env.state in IDLE_STATES and now_s - env.last_used_s > self.options.idle_timeout_s:
                env.shutdown("SPINDOWN")

    def shutdown(self) -> None:
        self.closing = True
        for env in list(self.environments):
            env.shutdown("SPINDOWN")
        for task in list(self.tasks):
            task.cancel()

    # --------------------------------------------------------------- asynchronous invocations
    def enqueue_event(self, inv_factory, payload: bytes, request_id: str) -> None:
        self.track(asyncio.get_running_loop().create_task(
            self._run_event(inv_factory, payload, request_id)))

    async def _run_event(self, inv_factory, payload: bytes, request_id: str) -> None:
        """Lambda's async invocation: function errors retried (up to 2 times), throttles re-queued
        with backoff until the event is too old; the outcome recorded as a destination record."""
        queued_s = time.monotonic()
        retries_done = 0
        attempts = 0
        backoff_s = THROTTLE_BACKOFF_START_S
        while True:
            if time.monotonic() - queued_s > self.options.max_event_age_s:
                self._record(request_id, payload, "EventAgeExceeded", attempts, None)
                return
            inv = inv_factory()
            try:
                result = await self.invoke(inv)
            except (Throttled, ServiceError):
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, THROTTLE_BACKOFF_MAX_S)
                continue
            attempts += 1
            if not result.function_error:
                self._record(request_id, payload, "Success", attempts, result)
                return
            if retries_done >= len(self.options.async_retry_delays_s):
                self._record(request_id, payload, "RetriesExhausted", attempts, result)
                return
            await asyncio.sleep(self.options.async_retry_delays_s[retries_done])
            retries_done += 1

    def _record(self, request_id: str, payload: bytes, condition: str, attempts: int,
                result: InvocationResult | None) -> None:
        """A record in the shape Lambda sends to an OnSuccess / OnFailure destination."""
        try:
            request_payload = json.loads(payload)
        except ValueError:
            request_payload = payload.decode("utf-8", "replace")
        response_payload = None
        if result is not None:
            try:
                response_payload = json.loads(result.payload) if result.payload else None
            except ValueError:
                response_payload = result.payload.decode("utf-8", "replace")
        response_context = {"statusCode": 200, "executedVersion": "$LATEST"}
        if result is not None and result.function_error:
            response_context["functionError"] = "Unhandled"
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.account.destinations.append({
            "version": "1.0", "timestamp": now,
            "requestContext": {"requestId": request_id,
                               "functionArn": self.options.function_arn(self.function.name) + ":$LATEST",
                               "condition": condition, "approximateInvokeCount": attempts},
            "requestPayload": request_payload,
            "responseContext": response_context,
            "responsePayload": response_payload,
        })
