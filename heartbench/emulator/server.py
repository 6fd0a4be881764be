"""The emulator: front door, one pool per function, the memory watcher and the idle reaper."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from heartbench.config import FunctionConfig
from heartbench.emulator.httpserver import HttpServer
from heartbench.emulator.invoke_api import FrontDoor
from heartbench.emulator.lifecycle import State
from heartbench.emulator.options import EmulatorOptions
from heartbench.emulator.pool import Account, FunctionPool
from heartbench.emulator.supervisor import rss_bytes

log = logging.getLogger(__name__)

MiB = 1024 * 1024
REAP_INTERVAL_S = 1.0
STOP_GRACE_S = 2.0                # how long answers to invocations cut short may take to be written
GROUP_SCAN_EVERY_TICKS = 25       # look for child processes of a runtime every this many memory ticks
_WATCHED = (State.STARTING, State.READY, State.INVOKING, State.RESPONDED)


class Emulator:
    def __init__(self, functions: dict[str, FunctionConfig], options: EmulatorOptions):
        self.options = options
        self.account = Account(options.account_concurrency)
        self.pools = {name: FunctionPool(fn, options, self.account) for name, fn in functions.items()}
        self.front = HttpServer(FrontDoor(self).handle)
        self.url: str | None = None
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._stopped = False

    def describe_environments(self) -> list[dict]:
        return [env.describe() for pool in self.pools.values() for env in pool.environments]

    async def start(self, port: int) -> str:
        self.options.log_dir.mkdir(parents=True, exist_ok=True)
        host, bound_port = await self.front.start(self.options.host, port)
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound_port}"
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch_memory()), loop.create_task(self._reap_idle())]
        return self.url

    def request_stop(self) -> None:
        self._stopping.set()

    async def serve_until_stopped(self) -> None:
        await self._stopping.wait()
        await self.stop()

    async def stop(self) -> None:
        """Refuse new requests, stop every environment (answering the invocations in flight), let
        those answers reach their callers, then close the connections."""
        if self._stopped:
            return
        self._stopped = True
        self.front.stop_listening()
        for task in self._tasks:
            task.cancel()
        for pool in self.pools.values():
            pool.shutdown()
        await self.front.close(grace_s=STOP_GRACE_S)
        for pool in self.pools.values():
            if pool.tasks:
                await asyncio.gather(*pool.tasks, return_exceptions=True)

    async def _watch_memory(self) -> None:
        """Sample the RSS of every running environment's process group; kill it above memory_mb."""
        tick = 0
        while True:
            await asyncio.sleep(self.options.memory_poll_interval_s)
            tick += 1
            for pool in self.pools.values():
                limit_bytes = pool.function.memory_mb * MiB
                for env in list(pool.environments):
                    if env.state not in _WATCHED or env.process is None or env.process.returncode is not None:
                        continue
                    rss = env.process.rss_bytes()
                    if tick % GROUP_SCAN_EVERY_TICKS == 0:
                        env.member_pids = env.process.group_member_pids()
                    env.group_rss_bytes = sum(rss_bytes(pid) for pid in env.member_pids)
                    total = rss + env.group_rss_bytes
                    if total > env.peak_rss_bytes:
                        env.peak_rss_bytes = total
                    if total > limit_bytes:
                        env.on_memory_exceeded(total)

    async def _reap_idle(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            now = time.monotonic()
            for pool in self.pools.values():
                pool.reap_idle(now)


async def run(functions: dict[str, FunctionConfig], options: EmulatorOptions, port: int,
              on_ready=None) -> None:
    emulator = Emulator(functions, options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, emulator.request_stop)
    try:
        url = await emulator.start(port)
        if on_ready:
            on_ready(url)
        await emulator.serve_until_stopped()
    finally:
        await emulator.stop()
