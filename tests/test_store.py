"""The heartbeat store against a real moto server process on loopback."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from heartbench.errors import HeartbenchError
from heartbench.store import (
    HISTORY_TABLE, LATEST_TABLE, DynamoServer, count_heartbeats, dynamodb_client, ensure_table,
    ensure_tables, latest_heartbeat,
)


@pytest.fixture(scope="module")
def server():
    with DynamoServer() as s:
        yield s


def put(client, table, service_id, timestamp_ms):
    client.put_item(TableName=table, Item={"ServiceID": {"S": service_id},
                                           "Timestamp": {"N": str(timestamp_ms)}})


def test_server_listens_on_loopback_and_leaves_nothing_behind(tmp_path):
    log = tmp_path / "dynamodb.log"
    server = DynamoServer(log_path=log).start()
    try:
        assert server.endpoint_url.startswith("http://127.0.0.1:")
        assert server.environment() == {"AWS_ENDPOINT_URL_DYNAMODB": server.endpoint_url}
        pid = server.proc.pid
        assert os.getpgid(pid) == pid  # its own process group
        assert dynamodb_client(server.endpoint_url).list_tables()["TableNames"] == []
    finally:
        server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "POST / HTTP/1.1" in log.read_text()  # the request log was kept where we asked
    assert server.stop() == server.proc.returncode  # stopping twice is harmless


def test_temporary_log_is_removed_and_two_servers_get_their_own_ports():
    with DynamoServer() as a, DynamoServer() as b:
        assert a.endpoint_url != b.endpoint_url
        temp_log = a.log_path
        assert temp_log.exists()
    assert not temp_log.exists()


def test_ensure_tables_creates_both_shapes_with_ttl_and_is_idempotent(server):
    first = ensure_tables(server.endpoint_url)
    again = ensure_tables(server.endpoint_url)
    assert [(r["table"], r["shape"], r["created"], r["ttl"]) for r in first] == [
        (HISTORY_TABLE, "history", True, "ENABLED"), (LATEST_TABLE, "latest", True, "ENABLED")]
    assert [r["created"] for r in again] == [False, False]
    client = dynamodb_client(server.endpoint_url)
    history = client.describe_table(TableName=HISTORY_TABLE)["Table"]["KeySchema"]
    assert history == [{"AttributeName": "ServiceID", "KeyType": "HASH"},
                       {"AttributeName": "Timestamp", "KeyType": "RANGE"}]
    ttl = client.describe_time_to_live(TableName=HISTORY_TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ExpiresAt"}


def test_a_table_with_another_key_is_refused(server):
    ensure_table(server.endpoint_url, "Mismatch", shape="latest")
    with pytest.raises(HeartbenchError, match=r"table 'Mismatch' exists with key "
                                              r"\[\('ServiceID', 'HASH', 'S'\)\], expected"):
        ensure_table(server.endpoint_url, "Mismatch", shape="history")
    with pytest.raises(HeartbenchError, match="table shape 'wide' is not one of history, latest"):
        ensure_table(server.endpoint_url, "Other", shape="wide")


def test_count_heartbeats_per_service(server):
    ensure_table(server.endpoint_url, "Counted")
    client = dynamodb_client(server.endpoint_url)
    for i in range(7):
        put(client, "Counted", "auth", 1000 + i)
    for i in range(3):
        put(client, "Counted", "billing", 1000 + i)
    put(client, "Counted", "auth", 1000)  # same key: overwrites, not a new heartbeat
    assert count_heartbeats(server.endpoint_url, "Counted") == {"auth": 7, "billing": 3}
    assert count_heartbeats(server.endpoint_url, "Counted", service_id="auth") == {"auth": 7}
    assert count_heartbeats(server.endpoint_url, "Counted", service_id="none") == {"none": 0}


def test_latest_heartbeat_reads_the_one_item_of_a_service(server):
    ensure_table(server.endpoint_url, "Latest", shape="latest")
    client = dynamodb_client(server.endpoint_url)
    now_ms = int(time.time() * 1000)
    put(client, "Latest", "auth", now_ms - 5)
    put(client, "Latest", "auth", now_ms)
    assert latest_heartbeat(server.endpoint_url, "auth", "Latest") == {"ServiceID": "auth",
                                                                        "Timestamp": now_ms}
    assert latest_heartbeat(server.endpoint_url, "nobody", "Latest") is None
    assert count_heartbeats(server.endpoint_url, "Latest") == {"auth": 1}


def test_unreachable_endpoint_is_one_clear_error():
    with DynamoServer() as s:
        url = s.endpoint_url
    with pytest.raises(HeartbenchError, match=f"cannot reach DynamoDB at {url}"):
        ensure_table(url, "Anything")
