"""ticker, fixed: one heartbeat per invocation, written inside the handler.

The schedule is the ticker: something outside the function (a scheduler, a queue, a caller) invokes
it once per period and the handler writes exactly one heartbeat, waiting for DynamoDB's answer
before it returns. Nothing runs after the return, so freezing the environment loses nothing, and a
failed write fails the invocation, where Lambda's retries and alarms can see it. The client is
built once per environment and reused.

(An EventBridge schedule cannot fire every second: rate expressions are in minutes. A one-second
heartbeat needs another trigger, e.g. a Step Functions loop or an external caller.)
"""

import heartbeat
from heartbench.telemetry import instrument

_client = heartbeat.new_client()


@instrument
def handler(event, context):
    return {"heartbeat_ms": heartbeat.put_heartbeat(_client)}
