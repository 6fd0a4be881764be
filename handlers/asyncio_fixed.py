"""asyncio, fixed: structured concurrency bounded by the invocation's deadline.

Each invocation runs on its own loop (`asyncio.run`, which also shuts down the loop's executor),
writes its heartbeat as a task of a `TaskGroup` next to the work, and wraps both in
`asyncio.timeout` set from `context.get_remaining_time_in_millis()` minus a margin. The group does
not exit before every task has finished or been cancelled, so nothing is pending when the handler
returns; if the deadline comes first the invocation fails with TimeoutError before Lambda kills it.

Event: {"work_ms": 20} -- how long the simulated async work takes.
"""

import asyncio

import heartbeat
from heartbench.telemetry import instrument

SAFETY_MARGIN_S = 0.2
_client = heartbeat.new_client()


async def _handle(event: dict, budget_s: float) -> dict:
    async with asyncio.timeout(budget_s):
        async with asyncio.TaskGroup() as group:
            beat = group.create_task(asyncio.to_thread(heartbeat.put_heartbeat, _client))
            group.create_task(asyncio.sleep(event.get("work_ms", 20) / 1000))
    return {"work": "done", "heartbeat_ms": beat.result()}


@instrument
def handler(event, context):
    budget_s = context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_S
    return asyncio.run(_handle(event or {}, budget_s))
