"""ticker, leaky: a heartbeat ticker started inside a Lambda handler.

The seed article's first mistake (a `time.Ticker` goroutine) in Python: every invocation starts a
background thread that writes a heartbeat every second, forever. On a server that would work. On
Lambda:
- once the handler has returned the environment is frozen: the thread does not run, so nothing is
  written while nobody invokes the function, which is exactly when a heartbeat matters;
- when the environment is thawed for the next invocation, every ticker started so far wakes up at
  once and writes a burst of late heartbeats;
- each invocation adds one more thread, so threads and writes grow with the number of invocations a
  warm environment has served, until Lambda recycles it; each environment has its own set.
The tickers share one client of their own (boto3 clients are thread-safe).

Fix (ticker_fixed.py): let the schedule invoke the function and write exactly one heartbeat per
invocation, inside the handler, finished before it returns.
"""

import threading
import time

import heartbeat
from heartbench.telemetry import instrument

_ticker_client = heartbeat.new_client(max_pool_connections=50)


def _tick_forever() -> None:
    while True:
        try:
            heartbeat.put_heartbeat(_ticker_client)
        except Exception as e:  # keep ticking, as a ticker would
            heartbeat.report_failure("ticker", e)
        time.sleep(heartbeat.interval_s())


@instrument
def handler(event, context):
    threading.Thread(target=_tick_forever, name="heartbeat-ticker", daemon=True).start()
    return {"ticker": "started"}
