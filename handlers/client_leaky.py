"""client, leaky: a boto3 session and client built per invocation and kept.

Building a boto3 Session and client inside the handler costs about 100 ms of CPU and ~10 MB per
invocation (each session loads its own copy of the service models). Here they are also kept: a
client cache keyed by something unique to the invocation (the request id) never hits and never
evicts, the same as appending clients to a list "to close later". Memory, gc objects (and, against
DynamoDB itself, which keeps connections alive, open sockets) grow with every invocation a warm
environment serves, until Lambda kills it at its memory size and the next invocation starts cold.

Fix (client_fixed.py): one client at module level, built once per environment and reused.
"""

import boto3

import heartbeat
from heartbench.telemetry import instrument

_clients = {}  # request id -> (session, client): never hits, never evicts


def _client_for(request_id: str):
    if request_id not in _clients:
        session = boto3.session.Session()
        _clients[request_id] = (session, heartbeat.new_client(session))
    return _clients[request_id][1]


@instrument
def handler(event, context):
    client = _client_for(context.aws_request_id)
    return {"heartbeat_ms": heartbeat.put_heartbeat(client), "clients_kept": len(_clients)}
