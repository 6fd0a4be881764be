"""deadline, fixed: the heartbeat loop is bound to the invocation and joined before the return.

The loop gets a stop event and an end time taken from `context.get_remaining_time_in_millis()`
minus a safety margin. Before each write it checks that the write can still finish before the end
(the client's timeouts bound a write to heartbeat.WRITE_BUDGET_S); it waits on the stop event, not
in a bare sleep, so stopping it is immediate. The handler stops it and joins it in a `finally`, so
the loop never outlives the invocation, whether the work succeeds, fails or runs long.

Event: {"work_ms": 20} -- how long the simulated work takes.
"""

import threading
import time

import heartbeat
from heartbench.telemetry import instrument

SAFETY_MARGIN_S = 0.2
_client = heartbeat.new_client()


def _heartbeat_loop(stop: threading.Event, end_s: float) -> None:
    while not stop.is_set() and end_s - time.monotonic() > heartbeat.WRITE_BUDGET_S:
        try:
            heartbeat.put_heartbeat(_client)
        except Exception as e:
            heartbeat.report_failure("deadline loop", e)
        stop.wait(min(heartbeat.interval_s(), max(0.0, end_s - time.monotonic())))


@instrument
def handler(event, context):
    end_s = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_S
    stop = threading.Event()
    loop = threading.Thread(target=_heartbeat_loop, args=(stop, end_s), name="heartbeat-loop")
    loop.start()
    try:
        work_s = (event or {}).get("work_ms", 20) / 1000
        time.sleep(max(0.0, min(work_s, end_s - time.monotonic())))
    finally:
        stop.set()
        loop.join(heartbeat.WRITE_BUDGET_S)
    return {"work": "done", "heartbeat_loop_alive": loop.is_alive()}
