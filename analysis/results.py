"""The shaped results of a run: verdicts, initial/peak/increase, latency and error metrics.

`build_results(run)` returns the dict written as `results.json`; the report renders it and the gate
checks it (and reads an earlier run's results.json as its baseline). Shape (RESULTS_SCHEMA_VERSION):

    {"schema_version": 1, "kind": "heartbench-results", "tool_version", "run_id", "generated_utc",
     "run": {"started_utc", "ended_utc", "duration_s", "machine", "git", "config"},
     "notes": [str], "groups": {pair: [function, ...]},
     "variants": {function: {"function", "pair", "variant", "verdict", "reason", "invocations",
                  "environments", "cold_starts", "ok", "errors", "throttled", "error_types",
                  "detected_by": "leak" | "errors" | null (leaky variants: how they differ),
                  "metrics": {METRICS... (p50_ms, p99_ms over warm invocations)}, "signals": {signal: {verdict, slope, slope_low,
                  slope_high, unit, p_value, n, reason, initial, peak, increase, value_unit}},
                  "environment_verdicts": {env_id: {signal: {verdict, slope, ...}}}}}}
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from analysis import verdicts
from analysis.rundir import RunDir, RunDirError

RESULTS_SCHEMA_VERSION = 1
# A leaky variant that fails this much more often than its fixed partner is told apart by its
# errors (the conditional-write pair's flaw is failed invocations, not a resource leak).
ERROR_RATE_MARGIN = 0.10
RESULTS_KIND = "heartbench-results"
SIGNALS = verdicts.SIGNALS
# Metrics a baseline comparison can name (`--fail-on METRIC:TOLERANCE`), with their units.
SLOPE_METRICS = {f"{signal}_slope": signal for signal in SIGNALS}
METRIC_UNITS = {**{f"{s}_slope": verdicts.RATE_UNITS[s] for s in SIGNALS},
                "p50_ms": "ms", "p99_ms": "ms", "error_rate": "", "throttle_rate": ""}


def split_resets(rows: list[dict]) -> list[dict]:
    """Rows with each environment cut at its resets: after a cold start that is not the
    environment's first invocation (the runtime restarted after a timeout or crash), the rows get
    env_id "<id>#2", "#3", ... so that every series covers one process lifetime."""
    lifetimes: dict[str, int] = {}
    out = []
    for row in sorted(rows, key=lambda r: r["t_s"]):
        env_id = row.get("env_id")
        if not env_id:
            out.append(row)
            continue
        if env_id in lifetimes and row.get("cold_start"):
            lifetimes[env_id] += 1
        lifetimes.setdefault(env_id, 1)
        count = lifetimes[env_id]
        out.append(row if count == 1 else {**row, "env_id": f"{env_id}#{count}"})
    return out


def build_results(run: RunDir, tool_version: str = "") -> dict:
    rows = split_resets(run.invocations)
    try:
        assessed = verdicts.assess_run(rows) if rows else {}
        tables = {s: verdicts.initial_peak_increase(rows, s) for s in SIGNALS} if rows else {}
    except ValueError as e:
        raise RunDirError(f"{run.path / 'invocations.jsonl'}: {e}") from None
    variants = {}
    for info in run.functions():
        function_rows = [r for r in rows if r["function"] == info.function]
        variants[info.function] = _variant(info, function_rows, assessed.get(info.function), tables)
    groups = {group: [m.function for m in members] for group, members in run.groups().items()}
    for functions in groups.values():
        _mark_detection([variants[f] for f in functions])
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "kind": RESULTS_KIND,
        "tool_version": tool_version or str(run.run.get("tool_version") or ""),
        "run_id": run.run_id,
        "generated_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run": _run_info(run),
        "notes": list(run.notes),
        "groups": groups,
        "variants": variants,
    }


def _mark_detection(members: list[dict]) -> None:
    """Set "detected_by" on leaky variants: "leak" (verdict), "errors" (fails at least
    ERROR_RATE_MARGIN more invocations than the fixed partner) or None (looks like the fixed one)."""
    fixed = next((v for v in members if v["variant"] == "fixed"), None)
    for variant in members:
        if variant["variant"] != "leaky":
            variant["detected_by"] = None
            continue
        errors = variant["metrics"]["error_rate"]
        partner_errors = fixed["metrics"]["error_rate"] if fixed else None
        if variant["verdict"] == "leak":
            variant["detected_by"] = "leak"
        elif errors is not None and partner_errors is not None \
                and errors >= partner_errors + ERROR_RATE_MARGIN:
            variant["detected_by"] = "errors"
        else:
            variant["detected_by"] = None


def expectation(variant: dict) -> tuple[bool | None, str]:
    """Whether a variant behaves as its role says (None: no role, or undecided) and a few words."""
    role = variant.get("variant")
    if role == "leaky":
        if variant.get("detected_by") == "leak":
            return True, "as expected"
        if variant.get("detected_by") == "errors":
            return True, f"as expected: {variant['metrics']['error_rate']:.0%} of invocations fail"
        return False, "expected a leak"
    if role == "fixed":
        if variant["verdict"] == "leak":
            return False, "expected no leak"
        if variant["verdict"] == "inconclusive":
            return None, "undecided"
        return True, "as expected"
    return None, ""


def _run_info(run: RunDir) -> dict:
    times = [r["t_s"] for r in run.invocations]
    return {
        "started_utc": run.run.get("started_utc"),
        "ended_utc": run.run.get("ended_utc"),
        "duration_s": round(max(times) - min(times), 3) if times else 0.0,
        "machine": run.run.get("machine") or {},
        "git": run.run.get("git") or {},
        "config": run.run.get("config") or {},
    }


def _variant(info, rows: list[dict], assessed, tables: dict) -> dict:
    counts = {status: sum(r.get("status") == status for r in rows)
              for status in ("ok", "error", "throttled")}
    error_types: dict[str, int] = {}
    for row in rows:
        if row.get("status") == "error":
            name = row.get("error_type") or "unknown"
            error_types[name] = error_types.get(name, 0) + 1
    signals = {}
    for signal in SIGNALS:
        verdict = assessed.signals[signal].to_dict() if assessed else _no_verdict(signal)
        table = tables.get(signal, {}).get(info.function) or {}
        verdict.update(initial=table.get("initial"), peak=table.get("peak"),
                       increase=table.get("increase"),
                       value_unit=table.get("unit", verdicts.VALUE_UNITS[signal]))
        signals[signal] = _finite(verdict)
    ran = counts["ok"] + counts["error"]
    return {
        "function": info.function, "pair": info.pair, "variant": info.variant,
        "verdict": assessed.verdict if assessed else "inconclusive",
        "reason": assessed.reason if assessed else "no invocations recorded",
        "invocations": ran,
        "environments": len({r["env_id"].split("#")[0] for r in rows if r.get("env_id")}),
        "cold_starts": sum(bool(r.get("cold_start")) for r in rows),
        "ok": counts["ok"], "errors": counts["error"], "throttled": counts["throttled"],
        "error_types": error_types,
        "metrics": _metrics(rows, signals, ran, counts),
        "signals": signals,
        "environment_verdicts": {
            env: {s: _finite(v.to_dict()) for s, v in per_signal.items()}
            for env, per_signal in (assessed.environments.items() if assessed else [])
        },
    }


def _no_verdict(signal: str) -> dict:
    return {"signal": signal, "verdict": "inconclusive", "slope": None, "slope_low": None,
            "slope_high": None, "unit": verdicts.RATE_UNITS[signal], "p_value": None, "n": 0,
            "reason": "no invocations recorded"}


def _metrics(rows: list[dict], signals: dict, ran: int, counts: dict) -> dict:
    # Warm invocations only: a cold start's Init Duration is not the latency a schedule sees, and
    # the few of them would decide p99 in short runs.
    latencies = [r["response_time_ms"] for r in rows
                 if r.get("status") != "throttled" and r.get("response_time_ms") is not None
                 and not r.get("cold_start") and r.get("init_duration_ms") is None]
    metrics = {f"{s}_slope": signals[s]["slope"] for s in SIGNALS}
    metrics["p50_ms"] = _round(np.percentile(latencies, 50)) if latencies else None
    metrics["p99_ms"] = _round(np.percentile(latencies, 99)) if latencies else None
    metrics["error_rate"] = round(counts["error"] / ran, 6) if ran else None
    metrics["throttle_rate"] = round(counts["throttled"] / len(rows), 6) if rows else None
    return metrics


def _round(value: float) -> float:
    return round(float(value), 3)


def _finite(d: dict) -> dict:
    """JSON has no NaN or infinity: such values become None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
