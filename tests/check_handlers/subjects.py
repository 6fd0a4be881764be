"""Handlers written for the tests of `heartbench check`: each leaks one signal, or none."""
import os
import threading
import time

_kept = []


def clean(event, context):
    return {"ok": True}


def thread_per_call(event, context):
    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    return {"ok": True}


def slow_thread_leak(event, context):
    """One thread every 25 invocations."""
    _kept.append(1)
    if len(_kept) % 25 == 0:
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    return {}


def memory_per_call(event, context):
    _kept.append(bytearray(64 * 1024))  # 64 KiB per invocation, kept forever
    return {}


def fd_per_call(event, context):
    _kept.append(open(os.devnull))
    return {}


def bounded_cache(event, context):
    """Grows to 50 entries of 64 KiB, then stays: not a leak."""
    if len(_kept) < 50:
        _kept.append(bytearray(64 * 1024))
    return {}
