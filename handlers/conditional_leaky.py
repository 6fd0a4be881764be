"""conditional-write, leaky: the seed article's single-heartbeat handler, ported from Go.

One conditional PutItem per invocation, `ConditionExpression = "attribute_not_exists(Timestamp) OR
#ts < :cutoff"` with cutoff = now - 3 s, and the PutItem error returned to Lambda. What happens:
- The expression as printed is rejected outright: `Timestamp` is a DynamoDB reserved word, so the
  unaliased `attribute_not_exists(Timestamp)` is a ValidationException on every call and no heartbeat
  is ever written. Set SEED_CONDITION=verbatim to run it exactly as printed.
- With the reserved word aliased (`attribute_not_exists(#ts)`, the default here), the condition
  rejects every write within 3 s of the last accepted one. That is the intent, but the handler
  returns the ConditionalCheckFailedException, so the invocation fails: on a 1 s schedule about
  three invocations in four fail (and asynchronous invocations are retried, twice, for nothing).
- The condition only means something if ServiceID alone is the table key (one "latest heartbeat"
  item per service, table ServiceHeartbeatsLatest). With Timestamp in the key every write addresses
  a new item and the condition can never fail.
The Go code builds its client per invocation from a config loaded at init, which is cheap in Go; the
Python equivalent of that init-time config is the module-level client.

Fix (conditional_fixed.py): a failed condition means a fresh heartbeat is already recorded, which is
success.
"""

import os
import time

import heartbeat
from heartbench.telemetry import instrument, record_heartbeat

SEED_CONDITION = "attribute_not_exists(Timestamp) OR #ts < :cutoff"
CONDITION = "attribute_not_exists(#ts) OR #ts < :cutoff"
WINDOW_MS = 3000
_client = heartbeat.new_client()


def condition() -> str:
    return SEED_CONDITION if os.environ.get("SEED_CONDITION") == "verbatim" else CONDITION


@instrument
def handler(event, context):
    now_ms = int(time.time() * 1000)
    _client.put_item(
        TableName=heartbeat.table(),
        Item=heartbeat.item(now_ms),
        ConditionExpression=condition(),
        ExpressionAttributeNames={"#ts": "Timestamp"},
        ExpressionAttributeValues={":cutoff": {"N": str(now_ms - WINDOW_MS)}},
    )  # an error propagates: "return err"
    record_heartbeat()
    return None
