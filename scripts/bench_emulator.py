#!/usr/bin/env python3
"""Benchmark: warm-invocation latency and throughput of the emulator, against a bare loopback round trip.

Measures, in one run on this machine:
  1. a bare HTTP/1.1 round trip on loopback (keep-alive, a server that answers at once),
  2. warm invocations of a no-op Python handler through the emulator (freeze on), one at a time,
  3. throughput with 4 warm environments and 4 concurrent closed-loop clients.
Clients speak raw HTTP/1.1 with keep-alive so that the client library's own cost does not count.

    python scripts/bench_emulator.py [--seconds 5] [--no-freeze]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heartbench.emulator.process import EmulatorProcess  # noqa: E402

CONFIG = Path(__file__).parent / "functions" / "bench.toml"
PATH = "/2015-03-31/functions/noop/invocations"


async def _read_body(reader, head: bytes) -> bytes:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":")[1]))
    return b""


def _bare_server(port_queue):
    async def handle(reader, writer):
        body = b"null"
        reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n" + body
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
                return
            await _read_body(reader, head)
            writer.write(reply)

    async def main():
        server = await asyncio.start_server(lambda r, w: handle(r, w), "127.0.0.1", 0)
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.IncompleteReadError):
        pass


async def _connect(host, port):
    return await asyncio.open_connection(host, port)


RUNTIME_DURATIONS_MS: list[float] = []


async def _round_trip(reader, writer, host, path, tail=False) -> float:
    extra = "X-Amz-Log-Type: Tail\r\n" if tail else ""
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}"
               f"Content-Length: 2\r\n\r\n{{}}").encode()
    started = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    await _read_body(reader, head)
    elapsed = time.perf_counter() - started
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {head[:60]!r}")
    if tail:
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"x-amz-log-result:"):
                text = base64.b64decode(line.split(b":", 1)[1].strip()).decode()
                RUNTIME_DURATIONS_MS.append(float(re.search(r"\tDuration: ([\d.]+) ms", text).group(1)))
    return elapsed


async def _latencies(host, port, path, count, tail=False) -> list[float]:
    reader, writer = await _connect(host, port)
    for _ in range(50):  # warm up
        await _round_trip(reader, writer, host, path)
    out = [await _round_trip(reader, writer, host, path, tail) for _ in range(count)]
    writer.close()
    return out


async def _throughput(host, port, path, clients, seconds) -> tuple[int, float]:
    deadline = time.perf_counter() + seconds
    counts = [0] * clients

    async def worker(i):
        reader, writer = await _connect(host, port)
        while time.perf_counter() < deadline:
            await _round_trip(reader, writer, host, path)
            counts[i] += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    return sum(counts), time.perf_counter() - started


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the throughput run")
    parser.add_argument("--count", type=int, default=2000, help="sequential invocations for latency")
    parser.add_argument("--no-freeze", action="store_true")
    args = parser.parse_args()

    queue = multiprocessing.Queue()
    bare = multiprocessing.Process(target=_bare_server, args=(queue,), daemon=True)
    bare.start()
    bare_port = queue.get(timeout=10)
    extra = ["--no-freeze"] if args.no_freeze else []
    with EmulatorProcess(CONFIG, extra_args=extra) as emu:
        host, port = emu.url.split("//")[1].split(":")
        port = int(port)
        bare_lat, emu_lat = [], []
        rounds = 10  # alternate the two so that drift in the machine's load hits both alike
        for _ in range(rounds):
            bare_lat += asyncio.run(_latencies("127.0.0.1", bare_port, PATH, args.count // rounds))
            emu_lat += asyncio.run(_latencies(host, port, PATH, args.count // rounds))
        asyncio.run(_latencies(host, port, PATH, min(args.count, 1000), tail=True))
        asyncio.run(_throughput(host, port, PATH, 4, 1.0))  # cold-start and warm 4 environments
        n_envs = len(emu.environments())
        done, elapsed = asyncio.run(_throughput(host, port, PATH, 4, args.seconds))
        bare_done, bare_elapsed = asyncio.run(_throughput("127.0.0.1", bare_port, PATH, 4, args.seconds))
    bare.terminate()

    b50, b99 = pct(bare_lat, 50) * 1e3, pct(bare_lat, 99) * 1e3
    e50, e99 = pct(emu_lat, 50) * 1e3, pct(emu_lat, 99) * 1e3
    print(f"freeze: {'off' if args.no_freeze else 'on'}; {args.count} sequential requests each, in 10 "
          f"alternating rounds; "
          f"{multiprocessing.cpu_count()} cores")
    print(f"{'':34}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    print(f"{'bare loopback HTTP round trip':34}{b50:9.3f}{b99:9.3f}{statistics.mean(bare_lat) * 1e3:9.3f}")
    print(f"{'warm no-op invocation (emulator)':34}{e50:9.3f}{e99:9.3f}{statistics.mean(emu_lat) * 1e3:9.3f}")
    r50 = statistics.median(RUNTIME_DURATIONS_MS)
    print(f"{'  of which runtime side (REPORT Duration)':34}{r50:9.3f}{pct(RUNTIME_DURATIONS_MS, 99):9.3f}"
          f"{statistics.mean(RUNTIME_DURATIONS_MS):9.3f}")
    print(f"ratio emulator / bare at p50: {e50 / b50:.1f}x   (target: p50 < 1 ms and <= 5x); "
          f"front door and dispatch alone: {(e50 - r50) / b50:.1f}x")
    print(f"throughput, {n_envs} environments, 4 clients, {elapsed:.1f} s: {done / elapsed:,.0f} invocations/s "
          f"(bare server: {bare_done / bare_elapsed:,.0f} requests/s; target >= 1,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
