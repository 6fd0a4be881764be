"""Handlers for the emulator's own tests."""
import os
import sys
import threading
import time

_counter = {"ticks": 0}
_started = False


def noop(event, context):
    return {"ok": True}


def echo(event, context):
    print(f"echo {event!r}")
    return {"event": event, "remaining_ms": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id, "function": context.function_name,
            "memory": context.memory_limit_in_mb, "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            "access_key_id": os.environ.get("AWS_ACCESS_KEY_ID"),
            "dynamodb": os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")}


def ticker(event, context):
    """Starts one background thread (once) that counts ticks every 10 ms; returns the count."""
    global _started
    if not _started:
        _started = True

        def tick():
            while True:
                _counter["ticks"] += 1
                time.sleep(0.01)
        threading.Thread(target=tick, daemon=True).start()
    return {"ticks": _counter["ticks"]}


def sleepy(event, context):
    time.sleep(float(event.get("sleep_s", 10)))
    return {"slept": True}


def hog(event, context):
    blocks = []
    for _ in range(int(event.get("mb", 1024))):
        blocks.append(bytearray(1024 * 1024))
        for i in range(0, len(blocks[-1]), 4096):
            blocks[-1][i] = 1
        time.sleep(0.002)
    return {"allocated_mb": len(blocks)}


def crash(event, context):
    sys.stdout.flush()
    os._exit(int(event.get("status", 3)))


def fail(event, context):
    raise ValueError(f"boom {event.get('n', 0)}")


def big(event, context):
    return "x" * (7 * 1024 * 1024)


def spawn_and_crash(event, context):
    """Starts a child process (same process group), notes its pid, then the runtime dies."""
    import subprocess
    child = subprocess.Popen(["sleep", "1234"])
    with open(event["pidfile"], "w") as f:
        f.write(str(child.pid))
    sys.stdout.flush()
    os._exit(1)
