"""Cost of heartbench's in-band telemetry per invocation (a benchmark, not a test).

Calls a no-op handler directly, bare and decorated with `heartbench.telemetry.instrument`, with
stdout sent to /dev/null, and prints the time per invocation of each, the shim's own cost and the
cost of each probe. The gc probe walks the heap, so its cost grows with the number of live objects:
by default the process first loads boto3 and builds a DynamoDB client, as the heartbench handlers do
(`--bare-process` skips that).

    .venv/bin/python scripts/bench_telemetry.py [--invocations 2000] [--bare-process]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from heartbench.telemetry import instrument, loops, probes


class _Context:
    aws_request_id = "00000000-0000-0000-0000-000000000000"


def noop(event, context):
    return None


def per_call_ns(fn, invocations: int, repeats: int = 5) -> float:
    """Best-of-`repeats` mean time of one call, in nanoseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(invocations):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / invocations)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--bare-process", action="store_true",
                        help="do not load boto3 first (a smaller heap than a real handler's)")
    args = parser.parse_args(argv)
    if not args.bare_process:
        import boto3
        client = boto3.client("dynamodb", region_name="us-east-1",  # noqa: F841 - sizes the heap
                              aws_access_key_id="x", aws_secret_access_key="x")
    loops.install()
    bare = noop
    shimmed = instrument(noop)
    context, event = _Context(), {}
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        bare_ns = per_call_ns(lambda: bare(event, context), args.invocations)
        shim_ns = per_call_ns(lambda: shimmed(event, context), args.invocations)
        os.environ["HEARTBENCH_GC_OBJECTS"] = "0"
        no_gc_ns = per_call_ns(lambda: shimmed(event, context), args.invocations)
        del os.environ["HEARTBENCH_GC_OBJECTS"]
        probe_ns = {name: per_call_ns(getattr(probes, name), args.invocations)
                    for name in ("threads", "os_threads", "tasks", "rss_bytes", "fds", "gc_objects")}
    heap = "bare process" if args.bare_process else "boto3 + DynamoDB client loaded"
    print(f"python {sys.version.split()[0]}, {heap}, {probes.gc_objects():,} gc-tracked objects, "
          f"{args.invocations} invocations, best of 5")
    print(f"no-op handler, bare:          {bare_ns / 1000:10.2f} us/invocation")
    print(f"no-op handler, instrumented:  {shim_ns / 1000:10.2f} us/invocation")
    print(f"shim cost:                    {(shim_ns - bare_ns) / 1000:10.2f} us/invocation "
          f"(ratio {shim_ns / bare_ns:,.0f}x a bare call)")
    print(f"shim cost, HEARTBENCH_GC_OBJECTS=0: {(no_gc_ns - bare_ns) / 1000:6.2f} us/invocation")
    for name, ns in probe_ns.items():
        print(f"  probe {name:<12}           {ns / 1000:10.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
