"""What every handler here shares: a cheap DynamoDB client and the heartbeat item.

Deploys with the handlers (same directory); needs only boto3 and heartbench.telemetry. The endpoint
comes the standard boto3 way (AWS_ENDPOINT_URL_DYNAMODB, unset on Lambda), the region from AWS_REGION
(set by Lambda), the table from HEARTBEAT_TABLE and the service from SERVICE_ID.

Items: ServiceID (S), Timestamp (N, epoch milliseconds; in the history table with a nanosecond
fraction, so that two environments writing in the same millisecond do not overwrite each other's
heartbeat), Status "ALIVE", ExpiresAt (N, epoch seconds, the table's TTL attribute).
"""

from __future__ import annotations

import os
import sys
import time

import boto3
import botocore.config

from heartbench.telemetry import record_heartbeat

DEFAULT_TABLE = "ServiceHeartbeats"
DEFAULT_SERVICE_ID = "auth-service"
TTL_S = 24 * 3600
# Short timeouts and one retry: a heartbeat that cannot be written within a second is late
# anyway, and a load test of hundreds of invocations must not wait on it.
CONNECT_TIMEOUT_S = 0.25
READ_TIMEOUT_S = 0.75
MAX_ATTEMPTS = 2
WRITE_BUDGET_S = (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) * MAX_ATTEMPTS


def table() -> str:
    return os.environ.get("HEARTBEAT_TABLE") or DEFAULT_TABLE


def service_id() -> str:
    return os.environ.get("SERVICE_ID") or DEFAULT_SERVICE_ID


def interval_s() -> float:
    """Seconds between heartbeats of the looping variants (HEARTBEAT_INTERVAL_S, default 1)."""
    return float(os.environ.get("HEARTBEAT_INTERVAL_S") or 1.0)


def client_config(max_pool_connections: int = 10) -> botocore.config.Config:
    return botocore.config.Config(
        connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        max_pool_connections=max_pool_connections)


def new_client(session=None, max_pool_connections: int = 10):
    """A DynamoDB client from `session` (default: boto3's default session)."""
    factory = session.client if session is not None else boto3.client
    return factory("dynamodb", region_name=os.environ.get("AWS_REGION"),
                   config=client_config(max_pool_connections))


def item(timestamp_ms: int | str, status: str = "ALIVE") -> dict:
    expires_at_s = int(float(timestamp_ms)) // 1000 + TTL_S
    return {"ServiceID": {"S": service_id()}, "Timestamp": {"N": str(timestamp_ms)},
            "Status": {"S": status}, "ExpiresAt": {"N": str(expires_at_s)}}


def unique_timestamp_ms() -> str:
    """Epoch milliseconds with a nanosecond fraction, e.g. "1700000000123.456789"."""
    ns = time.time_ns()
    return f"{ns // 1_000_000}.{ns % 1_000_000:06d}"


def put_heartbeat(client) -> str:
    """Write one heartbeat to the history table and count it; return its Timestamp."""
    timestamp_ms = unique_timestamp_ms()
    client.put_item(TableName=table(), Item=item(timestamp_ms))
    record_heartbeat()
    return timestamp_ms


def report_failure(where: str, error: Exception) -> None:
    """One stderr line (a single write, so concurrent threads cannot interleave inside it)."""
    sys.stderr.write(f"{where}: heartbeat not written: {type(error).__name__}: {error}\n")
