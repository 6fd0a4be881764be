"""In-band telemetry for Lambda handlers: one CloudWatch EMF line per invocation.

Two ways to use it:
- decorate a handler: `@heartbench.telemetry.instrument`;
- wrap an unmodified handler: set the function's exec wrapper to `heartbench/telemetry/exec_wrapper.sh`
  (AWS_LAMBDA_EXEC_WRAPPER), which points `_HANDLER` at `heartbench.telemetry.wrapper.handler` and
  keeps the original in HEARTBENCH_ORIGINAL_HANDLER.
Handlers that write heartbeats call `record_heartbeat()` so the line carries the count.
Importing the package has no side effect; `instrument` starts tracking asyncio event loops (loops.py).

Cost per invocation (scripts/bench_telemetry.py, 2-core machine, Python 3.11): about 30 us for the
line itself, plus the gc-object count, which walks the heap at 25-35 ns per tracked object: 1.6-2.3 ms
in a process that has loaded boto3 (65,000 objects). HEARTBENCH_GC_OBJECTS=0 skips it.
"""

from heartbench.telemetry.emf import find_records
from heartbench.telemetry.shim import emit, heartbeats, instrument, record_heartbeat, snapshot

__all__ = ["emit", "find_records", "heartbeats", "instrument", "record_heartbeat", "snapshot"]
