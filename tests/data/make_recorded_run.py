"""Write the recorded run directory the report and gate tests read (tests/data/recorded_run/).

Synthetic but realistic data following the run-directory schema (docs/design.md, schema_version 1):
five leaky/fixed pairs, two or three environments per variant, a timeout in `deadline-leaky` that
resets one environment (the next invocation there is a cold start), a few throttles, and the
conditional-write pair whose leaky variant fails most invocations instead of leaking resources.

The output is deterministic (fixed seed) and committed; run this script again only to change it:

    .venv/bin/python tests/data/make_recorded_run.py
"""

from __future__ import annotations

import json
import math
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

OUT_DIR = Path(__file__).parent / "recorded_run"
SEED = 20241204
RUN_START_S = 1733320800.0          # 2024-12-04T14:00:00Z
RUN_DURATION_S = 90.0
INVOCATIONS_PER_VARIANT = 100
SAMPLE_INTERVAL_S = 2.0
KIB = 1024
MIB = 1024 * 1024
PAIRS = ("ticker", "deadline", "asyncio", "client", "conditional-write")
ENVIRONMENTS_PER_VARIANT = {"ticker": 3, "deadline": 2, "asyncio": 3, "client": 2,
                            "conditional-write": 2}
DEADLINE_RESET_AT = 31              # env_invocation of the timeout in deadline-leaky's first env


@dataclass
class Env:
    """One execution environment's state as the synthetic handler code changes it."""

    env_id: str
    started_s: float
    pid: int
    invocations: int = 0            # since the last (re)start: telemetry's `invocation`
    total: int = 0                  # since the environment was created
    threads: int = 2
    tasks: int = 0
    rss_bytes: float = 46 * MIB
    fds: int = 8
    gc_objects: int = 38000
    cpu_s: float = 0.0
    timeout_at: int | None = None   # `total` of the invocation that times out, if any
    history: list = field(default_factory=list)   # (t_s, threads, rss_bytes, fds, invocations)

    def restart(self, rng: random.Random) -> None:
        self.invocations = 0
        self.threads, self.tasks, self.fds = 2, 0, 8
        self.rss_bytes = 46 * MIB + rng.uniform(-0.5, 0.5) * MIB
        self.gc_objects = 38000
        self.pid += 7


def hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def request_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def apply_handler(pair: str, variant: str, env: Env, rng: random.Random) -> None:
    """Change the environment the way one invocation of the named handler does."""
    warmup = env.invocations <= 4
    if warmup:                      # imports, caches and connection pools filling up, then a plateau
        env.rss_bytes += rng.uniform(250, 450) * KIB
        env.gc_objects += 1500
    env.rss_bytes += rng.gauss(0, 12) * KIB
    env.gc_objects += rng.randint(-300, 300)
    if env.invocations % 25 == 0:   # collector sawtooth
        env.gc_objects -= 2500
    if variant == "fixed":
        env.fds = 8 + (1 if warmup is False and rng.random() < 0.1 else 0)
        return
    if pair == "ticker":
        env.threads += 1
        env.rss_bytes += rng.uniform(20, 40) * KIB
    elif pair == "deadline":
        if rng.random() < 0.45:
            env.threads += 1
        env.rss_bytes += rng.uniform(5, 15) * KIB
    elif pair == "asyncio":
        env.tasks += 1
        env.rss_bytes += rng.uniform(4, 9) * KIB
        env.gc_objects += 40
    elif pair == "client":
        env.rss_bytes += rng.uniform(220, 320) * KIB
        env.gc_objects += 14000
        if rng.random() < 0.5:
            env.fds += 1


def outcome(pair: str, variant: str, env: Env, rng: random.Random) -> tuple[str, str | None]:
    if env.total == env.timeout_at:
        return "error", "Sandbox.Timedout"
    if pair == "conditional-write" and variant == "leaky" and rng.random() < 0.66:
        return "error", "ConditionalCheckFailedException"
    return "ok", None


def invocation_row(pair: str, variant: str, env: Env, t_s: float, rng: random.Random) -> dict:
    cold = env.invocations == 0
    env.invocations += 1
    env.total += 1
    apply_handler(pair, variant, env, rng)
    status, error_type = outcome(pair, variant, env, rng)
    timed_out = error_type == "Sandbox.Timedout"
    duration_ms = 3000.0 if timed_out else rng.lognormvariate(math.log(18), 0.35) \
        + (0.4 * env.threads if pair == "ticker" else 0.0)
    init_ms = rng.uniform(280, 520) if cold else None
    response_ms = duration_ms + (init_ms or 0.0) + rng.uniform(2.5, 9.0)
    env.cpu_s += duration_ms / 1000 * 0.6
    row = {
        "t_s": round(t_s, 3), "function": f"{pair}-{variant}", "pair": pair, "variant": variant,
        "request_id": request_id(rng), "status": status, "error_type": error_type,
        "response_time_ms": round(response_ms, 2), "duration_ms": round(duration_ms, 2),
        "billed_duration_ms": math.ceil(duration_ms), "memory_size_mb": 128,
        "max_memory_used_mb": math.ceil(env.rss_bytes / MIB) + 1,
        "init_duration_ms": round(init_ms, 2) if init_ms else None,
        "env_id": env.env_id, "env_invocation": env.invocations, "cold_start": cold,
        "threads": env.threads, "tasks": env.tasks, "rss_bytes": int(env.rss_bytes),
        "fds": env.fds, "gc_objects": env.gc_objects,
        "heartbeats": min(env.threads - 1, 60) if pair in ("ticker", "deadline") else 1,
    }
    if timed_out:                   # killed before the EMF line: no telemetry; then a reset
        for key in ("threads", "tasks", "rss_bytes", "fds", "gc_objects", "heartbeats"):
            row[key] = None
        env.restart(rng)
    env.history.append((t_s, env.threads, env.rss_bytes, env.fds, env.total))
    return row


def throttle_row(pair: str, variant: str, t_s: float, rng: random.Random) -> dict:
    row = {key: None for key in ("duration_ms", "billed_duration_ms", "max_memory_used_mb",
                                 "init_duration_ms", "env_id", "env_invocation", "threads",
                                 "tasks", "rss_bytes", "fds", "gc_objects", "heartbeats")}
    row.update({"t_s": round(t_s, 3), "function": f"{pair}-{variant}", "pair": pair,
                "variant": variant, "request_id": request_id(rng), "status": "throttled",
                "error_type": "TooManyRequestsException",
                "response_time_ms": round(rng.uniform(1.5, 4.0), 2), "memory_size_mb": 128,
                "cold_start": False})
    return row


def variant_rows(pair: str, variant: str, rng: random.Random) -> tuple[list[dict], list[Env]]:
    count = ENVIRONMENTS_PER_VARIANT[pair]
    envs = [Env(env_id=hex_id(rng), started_s=RUN_START_S + 1.0 + i * 12.0,
                pid=4100 + rng.randint(0, 5000)) for i in range(count)]
    if (pair, variant) == ("deadline", "leaky"):
        envs[0].timeout_at = DEADLINE_RESET_AT
    rows = []
    for i in range(INVOCATIONS_PER_VARIANT):
        t_s = RUN_START_S + 1.5 + (RUN_DURATION_S - 2.5) * (i + rng.random()) \
            / INVOCATIONS_PER_VARIANT
        if pair == "ticker" and variant == "leaky" and i % 23 == 11:
            rows.append(throttle_row(pair, variant, t_s, rng))
            continue
        live = [env for env in envs if env.started_s <= t_s]
        rows.append(invocation_row(pair, variant, rng.choice(live), t_s, rng))
    return rows, envs


def sample_rows(pair: str, variant: str, envs: list[Env], rng: random.Random) -> list[dict]:
    rows = []
    ticks = int(RUN_DURATION_S / SAMPLE_INTERVAL_S)
    for env in envs:
        for k in range(ticks):
            t_s = RUN_START_S + 0.5 + k * SAMPLE_INTERVAL_S
            seen = [h for h in env.history if h[0] <= t_s]
            if t_s < env.started_s or not seen:
                continue
            _, threads, rss_bytes, fds, invocations = seen[-1]
            invoking = rng.random() < 0.08
            rows.append({
                "t_s": round(t_s, 3), "function": f"{pair}-{variant}", "pair": pair,
                "variant": variant, "env_id": env.env_id, "pid": env.pid,
                "state": "INVOKING" if invoking else "FROZEN",
                "proc_status": "running" if invoking else "stopped",
                "rss_bytes": int(rss_bytes + rng.uniform(-40, 40) * KIB),
                "uss_bytes": int(rss_bytes - 9 * MIB), "threads": threads + 1, "fds": fds + 1,
                "cpu_s": round(env.cpu_s * invocations / max(env.total, 1), 3),
                "invocations": invocations,
            })
    return rows


def run_json() -> dict:
    functions = [{"function": f"{p}-{v}", "pair": p, "variant": v}
                 for p in PAIRS for v in ("leaky", "fixed")]
    return {
        "schema_version": 1, "tool_version": "0.1.0", "run_id": "20241204T140000Z",
        "started_utc": "2024-12-04T14:00:00Z", "ended_utc": "2024-12-04T14:01:31Z",
        "config": {"target": "emulator", "functions_config": "handlers/functions.toml",
                   "users": 20, "spawn_rate": 10, "run_time_s": 90,
                   "sample_interval_s": SAMPLE_INTERVAL_S, "no_freeze": False},
        "machine": {"hostname": "ci-runner-1", "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
                    "python": "3.11.2", "cpu_count": 2, "memory_bytes": 8 * 1024 * MIB},
        "git": {"commit": "3f1c2e9a7b5d4c6e8f0a1b2c3d4e5f6a7b8c9d0e", "dirty": False},
        "functions": functions,
    }


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w") as f:
        for row in sorted(rows, key=lambda r: r["t_s"]):
            f.write(json.dumps(row, separators=(",", ":")) + "\n")


def main() -> None:
    rng = random.Random(SEED)
    invocations, samples = [], []
    for pair in PAIRS:
        for variant in ("leaky", "fixed"):
            rows, envs = variant_rows(pair, variant, rng)
            invocations += rows
            samples += sample_rows(pair, variant, envs, rng)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "run.json").write_text(json.dumps(run_json(), indent=2) + "\n")
    write_jsonl(OUT_DIR / "invocations.jsonl", invocations)
    write_jsonl(OUT_DIR / "samples.jsonl", samples)
    print(f"wrote {OUT_DIR}: {len(invocations)} invocations, {len(samples)} samples")


if __name__ == "__main__":
    main()
