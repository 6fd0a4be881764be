"""Heartbeat tables through boto3, against any DynamoDB endpoint (AWS itself when endpoint_url is None).

Two table shapes:
- history (`ServiceHeartbeats`): key ServiceID (hash) + Timestamp (range, epoch ms), one item per
  heartbeat, so delivered heartbeats can be counted per service.
- latest (`ServiceHeartbeatsLatest`): key ServiceID only, one item per service holding its last
  heartbeat. The seed article's conditional write (`attribute_not_exists(Timestamp) OR #ts < :cutoff`)
  only means something on this shape: with Timestamp in the key every write targets a new item and the
  condition can never fail.
Items carry `Status` and the TTL attribute `ExpiresAt` (epoch seconds).
"""

from __future__ import annotations

import functools
import os
import urllib.parse

import boto3
import botocore.config
import botocore.exceptions

from heartbench.errors import HeartbenchError

HISTORY_TABLE = "ServiceHeartbeats"
LATEST_TABLE = "ServiceHeartbeatsLatest"
TTL_ATTRIBUTE = "ExpiresAt"
SHAPES = {
    "history": [("ServiceID", "HASH", "S"), ("Timestamp", "RANGE", "N")],
    "latest": [("ServiceID", "HASH", "S")],
}
DEFAULT_TABLES = {HISTORY_TABLE: "history", LATEST_TABLE: "latest"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def dynamodb_client(endpoint_url: str | None = None, region_name: str | None = None):
    """A DynamoDB client; a loopback endpoint gets placeholder credentials if none are configured."""
    region = region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
        or "us-east-1"
    return _client(endpoint_url, region)


@functools.lru_cache(maxsize=16)
def _client(endpoint_url: str | None, region: str):
    """Clients are thread-safe and costly to build (~50 ms): one per endpoint and region."""
    session = boto3.session.Session()
    kwargs = {}
    host = urllib.parse.urlsplit(endpoint_url).hostname if endpoint_url else None
    if host in _LOOPBACK and session.get_credentials() is None:
        kwargs = {"aws_access_key_id": "heartbench", "aws_secret_access_key": "heartbench"}
    config = botocore.config.Config(connect_timeout=2, read_timeout=10,
                                    retries={"max_attempts": 3, "mode": "standard"})
    return session.client("dynamodb", endpoint_url=endpoint_url, region_name=region,
                          config=config, **kwargs)


def _key_schema(description: dict) -> list[tuple[str, str, str]]:
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    return [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]])
            for k in description["KeySchema"]]


def _create(client, table: str, schema: list[tuple[str, str, str]]) -> None:
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": n, "KeyType": k} for n, k, _ in schema],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, _, t in schema],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table,
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def _enable_ttl(client, table: str) -> str:
    """Enable TTL on ExpiresAt; return the TTL status, or "unsupported" if the server lacks TTL."""
    try:
        status = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if status.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return status["TimeToLiveStatus"]
        client.update_time_to_live(TableName=table, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": TTL_ATTRIBUTE})
        return "ENABLED"
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("UnknownOperationException", "UnrecognizedClientException", "NotImplemented"):
            return "unsupported"
        raise


def ensure_table(endpoint_url: str | None, table: str = HISTORY_TABLE, shape: str | None = None,
                 region_name: str | None = None) -> dict:
    """Create `table` if it does not exist (on-demand billing, TTL on ExpiresAt).

    `shape` is "history" or "latest" (default: from DEFAULT_TABLES, else "history"). An existing table
    with another key schema is an error. Returns {"table", "shape", "created", "ttl"}.
    """
    shape = shape or DEFAULT_TABLES.get(table, "history")
    if shape not in SHAPES:
        raise HeartbenchError(f"table shape {shape!r} is not one of {', '.join(SHAPES)}")
    schema = SHAPES[shape]
    client = dynamodb_client(endpoint_url, region_name)
    created = False
    try:
        existing = _key_schema(client.describe_table(TableName=table)["Table"])
    except client.exceptions.ResourceNotFoundException:
        _create(client, table, schema)
        existing, created = schema, True
    except botocore.exceptions.EndpointConnectionError:
        raise HeartbenchError(f"cannot reach DynamoDB at {endpoint_url}") from None
    if existing != schema:
        raise HeartbenchError(f"table {table!r} exists with key {existing}, expected {schema} "
                              f"({shape})")
    return {"table": table, "shape": shape, "created": created, "ttl": _enable_ttl(client, table)}


def ensure_tables(endpoint_url: str | None, region_name: str | None = None) -> list[dict]:
    """Create both default tables (history and latest) the catalog's handlers write to."""
    return [ensure_table(endpoint_url, name, shape, region_name)
            for name, shape in DEFAULT_TABLES.items()]


def count_heartbeats(endpoint_url: str | None, table: str = HISTORY_TABLE,
                     service_id: str | None = None, region_name: str | None = None) -> dict[str, int]:
    """Items per ServiceID in `table` (one service with a Query, all services with a Scan)."""
    client = dynamodb_client(endpoint_url, region_name)
    counts: dict[str, int] = {}
    if service_id is not None:
        pages = client.get_paginator("query").paginate(
            TableName=table, KeyConditionExpression="ServiceID = :s",
            ExpressionAttributeValues={":s": {"S": service_id}}, Select="COUNT",
            ConsistentRead=True)
        counts[service_id] = sum(page["Count"] for page in pages)
        return counts
    pages = client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="ServiceID",
                                                  ConsistentRead=True)
    for page in pages:
        for item in page["Items"]:
            sid = item["ServiceID"]["S"]
            counts[sid] = counts.get(sid, 0) + 1
    return counts


def latest_heartbeat(endpoint_url: str | None, service_id: str, table: str = LATEST_TABLE,
                     region_name: str | None = None) -> dict | None:
    """The item of `service_id` in a latest-shaped table, as plain values, or None."""
    client = dynamodb_client(endpoint_url, region_name)
    item = client.get_item(TableName=table, Key={"ServiceID": {"S": service_id}},
                           ConsistentRead=True).get("Item")
    if item is None:
        return None
    return {name: (int(v["N"]) if "N" in v else next(iter(v.values()))) for name, v in item.items()}
