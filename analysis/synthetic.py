"""Synthetic signal series: the traps a leak detector must not fall for, and slow leaks it must catch.

Every generator takes a seeded `numpy.random.Generator` and the number of invocations `n`, and
returns (x, y): x = env_invocation (1..n), y = the signal in value units (threads, or RSS bytes).
`rows_*` generators return invocation rows shaped like a run directory's invocations.jsonl.
SCENARIOS lists them all with the expected verdict, for tests and scripts/bench_detector.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

KIB = 1024.0
MIB = 1024.0 * 1024.0
BASE_RSS_BYTES = 50 * MIB


def _x(n: int) -> np.ndarray:
    if n < 1:
        raise ValueError(f"n must be a positive number of invocations, got {n!r}")
    return np.arange(1, n + 1, dtype=float)


def ar1_noise(rng: np.random.Generator, n: int, sd: float, phi: float = 0.8) -> np.ndarray:
    """Stationary AR(1) noise with marginal standard deviation `sd` and lag-1 correlation `phi`."""
    if not -1.0 < phi < 1.0:
        raise ValueError(f"phi must be between -1 and 1, got {phi!r}")
    innovations = rng.normal(0.0, sd * np.sqrt(1.0 - phi * phi), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + innovations[i]
    return out


def _transient_threads(rng: np.random.Generator, n: int, rate: float = 0.05) -> np.ndarray:
    """Short-lived helper threads seen now and then (a connection pool's worker, a timer)."""
    return (rng.random(n) < rate).astype(float)


def _warmup(x: np.ndarray, amount: float, tau: float) -> np.ndarray:
    return amount * (1.0 - np.exp(-(x - 1.0) / tau))


# --- traps: no leak ---------------------------------------------------------------------------

def flat_threads(rng, n):
    """A steady thread count with transient extra threads."""
    x = _x(n)
    return x, 4.0 + _transient_threads(rng, n)


def warmup_threads(rng, n):
    """Threads started lazily over the first few dozen invocations, then steady."""
    x = _x(n)
    extra = rng.integers(2, 6)
    starts = np.sort(rng.integers(1, int(rng.integers(15, 45)), size=extra))
    steps = (x[:, None] >= starts[None, :]).sum(axis=1)
    return x, 2.0 + steps + _transient_threads(rng, n)


def bounded_pool_threads(rng, n):
    """A thread pool that adds a worker every few invocations up to its maximum, reached early."""
    x = _x(n)
    max_workers = int(rng.integers(6, 12))
    every = max(1, int(n * rng.uniform(0.15, 0.4) / max_workers))
    return x, 2.0 + np.minimum(max_workers, x // every) + _transient_threads(rng, n)


def warmup_rss(rng, n):
    """First-use growth of 5-20 MiB levelling off within a few dozen invocations, on AR(1) noise."""
    x = _x(n)
    growth = _warmup(x, rng.uniform(5, 20) * MIB, rng.uniform(3, 20))
    return x, BASE_RSS_BYTES + growth + ar1_noise(rng, n, 0.5 * MIB)


def bounded_cache_rss(rng, n):
    """A bounded cache filling at 50-150 KiB per invocation until full, within the first half."""
    x = _x(n)
    full_at = n * rng.uniform(0.2, 0.45)
    per_invocation = rng.uniform(50, 150) * KIB
    cache = per_invocation * np.minimum(x, full_at)
    return x, BASE_RSS_BYTES + cache + ar1_noise(rng, n, 0.5 * MIB)


def gc_sawtooth_rss(rng, n):
    """Garbage accumulating then collected every 20-60 invocations: a sawtooth of 1-9 MiB."""
    x = _x(n)
    period = int(rng.integers(20, 61))
    per_invocation = rng.uniform(50, 150) * KIB
    phase = (x + rng.integers(0, period)) % period
    return x, BASE_RSS_BYTES + per_invocation * phase + ar1_noise(rng, n, 0.25 * MIB)


def ar1_rss(rng, n):
    """Strongly autocorrelated noise (AR(1), phi 0.8, sd 1 MiB) around a steady 50 MiB."""
    x = _x(n)
    return x, BASE_RSS_BYTES + ar1_noise(rng, n, 1.0 * MIB, phi=0.8)


# --- slow leaks -------------------------------------------------------------------------------

def thread_leak(rng, n):
    """One thread leaked every 30-50 invocations, after a short warm-up, with transient threads."""
    x = _x(n)
    every = int(rng.integers(30, 51))
    offset = int(rng.integers(0, every))
    warm = _warmup(x, 2.0, 5.0).round()
    return x, 2.0 + warm + (x + offset) // every + _transient_threads(rng, n)


def rss_leak(rng, n):
    """20-50 KiB leaked per invocation on AR(1) noise (phi 0.8, sd 1 MiB) around 50 MiB."""
    x = _x(n)
    per_invocation = rng.uniform(20, 50) * KIB
    return x, BASE_RSS_BYTES + per_invocation * x + ar1_noise(rng, n, 1.0 * MIB, phi=0.8)


def rss_leak_sawtooth(rng, n):
    """20-50 KiB leaked per invocation under a GC sawtooth, after a warm-up that levels off."""
    x, y = gc_sawtooth_rss(rng, n)
    per_invocation = rng.uniform(20, 50) * KIB
    return x, y + per_invocation * x + _warmup(x, rng.uniform(5, 15) * MIB, 15.0)


# --- invocation rows: environments and cold starts ---------------------------------------------

def _env_id(rng: np.random.Generator) -> str:
    return "".join(f"{b:02x}" for b in rng.integers(0, 256, size=16))


def _rows(rng, n, envs, series) -> list[dict]:
    """Rows of `envs` environments, each living a random share of `n` invocations.

    Each environment's series comes from `series(rng, length)`, so it starts from scratch
    (a cold start) exactly like a fresh Lambda execution environment.
    """
    cuts = np.sort(rng.choice(np.arange(1, n), size=envs - 1, replace=False)) if envs > 1 else []
    rows, t_s, start = [], 1_700_000_000.0, 0
    for stop in [*cuts, n]:
        length = int(stop - start)
        _, rss = series(rng, length)
        env = _env_id(rng)
        threads = 3.0 + _transient_threads(rng, length)
        for i in range(length):
            t_s += 0.05
            rows.append({
                "t_s": t_s, "function": "synthetic", "pair": "synthetic", "variant": None,
                "status": "ok", "env_id": env, "env_invocation": i + 1, "cold_start": i == 0,
                "threads": int(threads[i]), "tasks": 0, "rss_bytes": int(rss[i]), "fds": 7,
            })
        start = stop
    return rows


def rows_cold_start_resets(rng, n, envs: int = 3):
    """Environments replaced one after another (timeouts, crashes), each warming up from scratch."""
    return _rows(rng, n, envs, warmup_rss)


def rows_leak_with_resets(rng, n, envs: int = 2):
    """A slow RSS leak in environments that are replaced during the run."""
    return _rows(rng, n, envs, rss_leak)


@dataclass(frozen=True)
class Scenario:
    name: str
    signal: str          # "threads" or "rss"
    leak: bool           # the right answer
    kind: str            # "series": make(rng, n) -> (x, y); "rows": make(rng, n) -> invocation rows
    make: Callable


SCENARIOS = (
    Scenario("flat threads", "threads", False, "series", flat_threads),
    Scenario("warm-up threads", "threads", False, "series", warmup_threads),
    Scenario("bounded thread pool", "threads", False, "series", bounded_pool_threads),
    Scenario("warm-up RSS", "rss", False, "series", warmup_rss),
    Scenario("bounded cache RSS", "rss", False, "series", bounded_cache_rss),
    Scenario("GC sawtooth RSS", "rss", False, "series", gc_sawtooth_rss),
    Scenario("AR(1) noise RSS", "rss", False, "series", ar1_rss),
    Scenario("cold-start resets", "rss", False, "rows", rows_cold_start_resets),
    Scenario("thread leak 1/30-50", "threads", True, "series", thread_leak),
    Scenario("RSS leak 20-50 KiB", "rss", True, "series", rss_leak),
    Scenario("RSS leak + GC sawtooth", "rss", True, "series", rss_leak_sawtooth),
    Scenario("RSS leak + resets", "rss", True, "rows", rows_leak_with_resets),
)
