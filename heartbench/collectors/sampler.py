"""Out-of-band collector: psutil samples of every execution environment's process, at an interval.

Environments are found through the emulator's introspection endpoint
(`GET /_heartbench/environments`: id, function, pid, state, invocations, ...). Each tick reads, for
every environment's process: run status, RSS, USS, threads, open fds and cumulative CPU time.

Frozen environments are SIGSTOPped; that does not stop /proc from answering, so they are sampled
like the others (their `proc_status` is "stopped"). The process is the environment's runtime
process (the process group leader); children it may start are not added in.

The sampler runs in a `threading.Thread`; under gevent's monkey patching (Locust) that is a
greenlet. The psutil reads are short blocking /proc reads (under a millisecond per process), and
the sampler yields after each process, so a tick over a hundred environments never holds Locust's
event loop for longer than one sample. Its own CPU cost is measured per sample (`overhead()`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping

import psutil

INTROSPECTION_PATH = "/_heartbench/environments"
INTROSPECTION_TIMEOUT_S = 5.0

logger = logging.getLogger(__name__)


def introspection_client(base_url: str, timeout_s: float = INTROSPECTION_TIMEOUT_S
                         ) -> Callable[[], list[dict]]:
    """A function returning the emulator's environment list (raises OSError when unreachable)."""
    url = base_url.rstrip("/") + INTROSPECTION_PATH

    def list_environments() -> list[dict]:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return json.load(response)

    return list_environments


def sample_process(proc: psutil.Process) -> dict:
    """One process's run status, memory, threads, fds and CPU. Raises psutil.Error if it is gone."""
    with proc.oneshot():
        status = proc.status()
        cpu = proc.cpu_times()
        threads = proc.num_threads()
        try:
            memory = proc.memory_full_info()
            rss_bytes, uss_bytes = memory.rss, memory.uss
        except psutil.AccessDenied:
            rss_bytes, uss_bytes = proc.memory_info().rss, None
        fds = proc.num_fds()
    return {"proc_status": status, "rss_bytes": rss_bytes, "uss_bytes": uss_bytes,
            "threads": threads, "fds": fds, "cpu_s": round(cpu.user + cpu.system, 4)}


class EnvironmentSampler:
    """Samples every environment `list_environments()` reports and hands each row to `sink`.

    `functions` maps a function name to its {"pair", "variant"} (run.json's functions list);
    rows follow SAMPLE_FIELDS (docs/design.md).
    """

    def __init__(self, list_environments: Callable[[], list[dict]],
                 functions: Mapping[str, Mapping], sink: Callable[[dict], None],
                 interval_s: float = 1.0):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be above 0, got {interval_s!r}")
        self.list_environments = list_environments
        self.functions = functions
        self.sink = sink
        self.interval_s = interval_s
        self.ticks = 0
        self.samples = 0
        self.sample_cpu_s = 0.0
        self.sample_wall_s = 0.0
        self.errors = 0
        self._procs: dict[tuple[str, int], psutil.Process] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    def _process(self, env_id: str, pid: int) -> psutil.Process:
        key = (env_id, pid)
        proc = self._procs.get(key)
        if proc is None:
            proc = self._procs[key] = psutil.Process(pid)
        return proc

    def tick(self, t_s: float | None = None) -> list[dict]:
        """Sample every environment once; returns the rows (also given to `sink`)."""
        environments = self.list_environments()
        t_s = round(time.time() if t_s is None else t_s, 3)
        rows, live = [], set()
        for env in environments:
            pid, env_id = env.get("pid"), env.get("id")
            if not pid or not env_id:
                continue
            live.add((env_id, pid))
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            try:
                measured = sample_process(self._process(env_id, pid))
            except psutil.Error:
                self._procs.pop((env_id, pid), None)  # exited between listing and sampling
                continue
            finally:
                self.sample_cpu_s += time.thread_time() - cpu0
                self.sample_wall_s += time.perf_counter() - wall0
                time.sleep(0)  # let other threads (greenlets, under gevent) run between samples
            meta = self.functions.get(env.get("function"), {})
            rows.append({"t_s": t_s, "function": env.get("function"), "pair": meta.get("pair"),
                         "variant": meta.get("variant"), "env_id": env_id, "pid": pid,
                         "state": env.get("state"), **measured,
                         "invocations": env.get("invocations")})
        for key in set(self._procs) - live:
            del self._procs[key]
        self.ticks += 1
        self.samples += len(rows)
        for row in rows:
            self.sink(row)
        return rows

    def overhead(self) -> dict:
        """The sampler's own cost: CPU and wall time per process sample, in milliseconds."""
        per = max(self.samples, 1)
        return {"ticks": self.ticks, "samples": self.samples, "errors": self.errors,
                "interval_s": self.interval_s,
                "cpu_ms_per_sample": round(1000 * self.sample_cpu_s / per, 4),
                "wall_ms_per_sample": round(1000 * self.sample_wall_s / per, 4)}

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                self.tick()
            except (OSError, ValueError) as e:  # emulator unreachable or a bad answer
                self.errors += 1
                if not self._warned:
                    logger.warning("environment sampler: %s", e)
                    self._warned = True
            next_t += self.interval_s
            delay = next_t - time.monotonic()
            if delay < 0:  # fell behind: skip the missed ticks rather than burst
                next_t, delay = time.monotonic(), 0
            self._stop.wait(delay)

    def start(self) -> "EnvironmentSampler":
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="heartbench-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
