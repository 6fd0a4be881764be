"""asyncio, leaky: a module-level event loop kept across invocations, heartbeat tasks never awaited.

A common way to keep async clients warm between invocations is to create one event loop at module
level and `run_until_complete` each invocation on it. Here each invocation also fires a heartbeat
task (`ensure_future`) that it never awaits or cancels. The task only makes progress while some
later invocation runs the loop, so its heartbeats arrive late and in bursts, and every invocation
adds one more pending task to the loop, which grows for as long as the environment lives. (The
tasks' writes go through the loop's default executor: threads grow up to its size, then stay.)

Fix (asyncio_fixed.py): a fresh loop per invocation (`asyncio.run`), structured concurrency
(`TaskGroup`) and a timeout taken from the invocation's deadline: nothing is pending at return.

Event: {"work_ms": 20} -- how long the simulated async work takes.
"""

import asyncio

import heartbeat
from heartbench.telemetry import instrument

_loop = asyncio.new_event_loop()
_client = heartbeat.new_client(max_pool_connections=50)


async def _beat_forever() -> None:
    while True:
        try:
            await _loop.run_in_executor(None, heartbeat.put_heartbeat, _client)
        except Exception as e:
            heartbeat.report_failure("asyncio task", e)
        await asyncio.sleep(heartbeat.interval_s())


async def _handle(event: dict) -> dict:
    asyncio.ensure_future(_beat_forever())  # fired and forgotten
    await asyncio.sleep(event.get("work_ms", 20) / 1000)
    return {"work": "done"}


@instrument
def handler(event, context):
    return _loop.run_until_complete(_handle(event or {}))
