"""conditional-write, fixed: a failed condition means the heartbeat is already recorded.

Same conditional PutItem as conditional_leaky.py (with the reserved word `Timestamp` aliased as
`#ts`), against a table keyed by ServiceID alone. When DynamoDB answers
ConditionalCheckFailedException, another invocation wrote a heartbeat less than 3 s ago: the
service is known to be alive, which is what the invocation was for, so it succeeds. Any other error
(throttling, timeouts, validation) still fails the invocation.
"""

import time

import heartbeat
from heartbench.telemetry import instrument, record_heartbeat

CONDITION = "attribute_not_exists(#ts) OR #ts < :cutoff"
WINDOW_MS = 3000
_client = heartbeat.new_client()


@instrument
def handler(event, context):
    now_ms = int(time.time() * 1000)
    try:
        _client.put_item(
            TableName=heartbeat.table(),
            Item=heartbeat.item(now_ms),
            ConditionExpression=CONDITION,
            ExpressionAttributeNames={"#ts": "Timestamp"},
            ExpressionAttributeValues={":cutoff": {"N": str(now_ms - WINDOW_MS)}},
        )
    except _client.exceptions.ConditionalCheckFailedException:
        return {"heartbeat": "already recorded"}
    record_heartbeat()
    return {"heartbeat": "written", "heartbeat_ms": now_ms}
