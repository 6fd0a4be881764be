"""Process measurements for the telemetry line. Linux /proc readings; None where /proc is missing.

- threads: `threading.active_count()`, the Python threads alive (what leaked `threading.Thread`s
  and executor workers add). `os_threads` counts every OS thread of the process from
  /proc/self/task, including threads native libraries start; it is reported as an extra root key.
- tasks: asyncio tasks not done, summed over every event loop the process created (see loops.py).
- rss_bytes: resident set size, from /proc/self/statm.
- fds: open file descriptors, from /proc/self/fd (minus the one used to list it).
- gc_objects: objects tracked by the cyclic garbage collector, `len(gc.get_objects())`. The costliest
  probe by far: it walks the heap, 25-35 ns per object, so about 2 ms per invocation once boto3 is
  loaded (scripts/bench_telemetry.py). HEARTBENCH_GC_OBJECTS=0 in the function's environment turns it
  off (the value is then null).
"""

from __future__ import annotations

import gc
import os
import threading

from heartbench.telemetry import loops

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def threads() -> int:
    return threading.active_count()


def os_threads() -> int | None:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def tasks() -> int:
    return loops.pending_tasks()


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return None


def fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd")) - 1
    except OSError:
        return None


def gc_objects() -> int | None:
    if os.environ.get("HEARTBENCH_GC_OBJECTS", "1") == "0":
        return None
    return len(gc.get_objects())
