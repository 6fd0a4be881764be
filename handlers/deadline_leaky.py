"""deadline, leaky: a heartbeat loop that looks at the invocation deadline once, before it starts.

The seed article's second mistake (a goroutine that checks `ctx.Err()` on entry but never selects on
`ctx.Done()` inside its loop) in Python: the handler keeps a heartbeat going while it works, and
guards the loop with one check of the time left. The check happens before the loop; the loop never
looks again, and nothing stops it when the work is done. So the loop outlives its invocation: it is
frozen with the environment, resumes at the next invocation next to that invocation's own loop, and
threads and late writes pile up, one loop per invocation. A loop caught mid-write when the function
times out dies with the environment.

Fix (deadline_fixed.py): bind the loop to `context.get_remaining_time_in_millis()`, stop it before
the deadline, and stop and join it before returning.

Event: {"work_ms": 20} -- how long the simulated work takes.
"""

import threading
import time

import heartbeat
from heartbench.telemetry import instrument

MIN_REMAINING_MS = 500
_client = heartbeat.new_client(max_pool_connections=50)


def _heartbeat_loop() -> None:
    while True:
        try:
            heartbeat.put_heartbeat(_client)
        except Exception as e:
            heartbeat.report_failure("deadline loop", e)
        time.sleep(heartbeat.interval_s())


@instrument
def handler(event, context):
    if context.get_remaining_time_in_millis() < MIN_REMAINING_MS:  # the only look at the deadline
        return {"skipped": "too close to the deadline"}
    threading.Thread(target=_heartbeat_loop, name="heartbeat-loop", daemon=True).start()
    time.sleep((event or {}).get("work_ms", 20) / 1000)
    return {"work": "done"}
