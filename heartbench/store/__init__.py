"""The heartbeat store: an embedded DynamoDB-compatible server and the heartbeat tables.

    with DynamoServer() as server:
        ensure_tables(server.endpoint_url)
        ...  # run functions with AWS_ENDPOINT_URL_DYNAMODB=server.endpoint_url
        count_heartbeats(server.endpoint_url, "ServiceHeartbeats")   # {"ticker-fixed": 120, ...}
"""

from heartbench.store.server import DynamoServer
from heartbench.store.tables import (
    DEFAULT_TABLES, HISTORY_TABLE, LATEST_TABLE, TTL_ATTRIBUTE, count_heartbeats, dynamodb_client,
    ensure_table, ensure_tables, latest_heartbeat,
)

__all__ = [
    "DEFAULT_TABLES", "HISTORY_TABLE", "LATEST_TABLE", "TTL_ATTRIBUTE", "DynamoServer",
    "count_heartbeats", "dynamodb_client", "ensure_table", "ensure_tables", "latest_heartbeat",
]
