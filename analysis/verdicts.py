"""Leak verdicts per signal, per environment and per variant, from invocation rows of a run.

A signal's series is its value after each invocation of one execution environment, against the
environment's invocation count (`env_invocation`). Environments are never fitted together: a cold
start begins a new series. The decision for one or more series (several environments are pooled
with the Seasonal Kendall method, see analysis.stats) goes:

1. Drop the first WARMUP_FRACTION of each series (import-time and first-use growth), then take
   windowed floors (block minima, about TARGET_WINDOWS per series): GC sawtooth and autocorrelated
   noise mostly vanish from the floors.
2. Mann-Kendall test (Hamed & Rao autocorrelation correction) and Theil-Sen slope with its interval
   on the floors.
3. Plateau test: the last TAIL_FRACTION of the floors is fitted on its own; if its slope interval lies
   wholly below the overall slope, growth has levelled off (warm-up, bounded cache), not a leak.
4. Effect-size floors: a leak's slope interval must clear SLOPE_FLOORS, the total growth over the
   observed span must clear TOTAL_FLOORS and NOISE_MULTIPLE times the noise. "no-leak" needs the
   (1 - 2 * EQUIVALENCE_ALPHA) interval wholly under the floor (a two one-sided tests argument);
   anything in between is "inconclusive".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

from analysis import stats

SIGNALS = ("threads", "tasks", "rss", "fds")
SIGNAL_FIELDS = {"threads": "threads", "tasks": "tasks", "rss": "rss_bytes", "fds": "fds"}
VALUE_UNITS = {"threads": "threads", "tasks": "tasks", "rss": "bytes", "fds": "fds"}
RATE_UNITS = {
    "threads": "threads per 1k invocations",
    "tasks": "tasks per 1k invocations",
    "rss": "KiB per invocation",
    "fds": "fds per 1k invocations",
}
# Multiply a slope in value units per invocation by this to get the rate unit above.
RATE_SCALES = {"threads": 1000.0, "tasks": 1000.0, "rss": 1.0 / 1024.0, "fds": 1000.0}

VERDICTS = ("leak", "no-leak", "inconclusive")

# Effect-size floors, in rate units (RATE_UNITS): smaller growth is never called a leak.
SLOPE_FLOORS = {"threads": 1.0, "tasks": 1.0, "rss": 4.0, "fds": 1.0}
# Least total growth over the observed span, in value units (VALUE_UNITS).
TOTAL_FLOORS = {"threads": 1.0, "tasks": 1.0, "rss": 1024.0 * 1024.0, "fds": 1.0}
NOISE_MULTIPLE = 2.0      # total growth must also exceed this many robust sds of the noise
MIN_POINTS = 20           # fewer invocations in an environment: inconclusive
WARMUP_FRACTION = 0.2     # leading share of each series left out of the fit
TARGET_WINDOWS = 20       # windowed floors per series
FLOOR_QUANTILE = 0.0      # 0.0: window minimum
TAIL_FRACTION = 0.5       # share of the floors fitted again for the plateau test
ALPHA = 0.01              # one-sided Mann-Kendall level for "grows"
INTERVAL_ALPHA = 0.05     # reported slope interval: 95 %
EQUIVALENCE_ALPHA = 0.05  # "no-leak" and "levelled off" use the 90 % interval


@dataclass(frozen=True)
class SignalVerdict:
    """Verdict on one signal; slope and interval in `unit` (RATE_UNITS), p_value one-sided."""

    signal: str
    verdict: str
    slope: float | None
    slope_low: float | None
    slope_high: float | None
    unit: str
    p_value: float | None
    n: int
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VariantVerdict:
    """Verdicts for one function (one variant of a pair): pooled per signal and per environment."""

    function: str
    pair: str | None
    variant: str | None
    verdict: str
    invocations: int
    signals: dict[str, SignalVerdict]
    environments: dict[str, dict[str, SignalVerdict]] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict:
        return {
            "function": self.function,
            "pair": self.pair,
            "variant": self.variant,
            "verdict": self.verdict,
            "invocations": self.invocations,
            "reason": self.reason,
            "signals": {name: v.to_dict() for name, v in self.signals.items()},
            "environments": {
                env: {name: v.to_dict() for name, v in per_signal.items()}
                for env, per_signal in self.environments.items()
            },
        }


def _check_signal(signal: str) -> None:
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}; expected one of {', '.join(SIGNALS)}")


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _verdict(signal, verdict, trend, n, reason) -> SignalVerdict:
    scale = RATE_SCALES[signal]
    if trend is None:
        return SignalVerdict(signal, verdict, None, None, None, RATE_UNITS[signal], None, n, reason)
    return SignalVerdict(
        signal, verdict, trend.slope * scale, trend.slope_low * scale, trend.slope_high * scale,
        RATE_UNITS[signal], trend.p_value, n, reason,
    )


@dataclass(frozen=True)
class _Prepared:
    floors: tuple[np.ndarray, np.ndarray]
    tail: tuple[np.ndarray, np.ndarray]
    span: float
    noise: float


def _prepare(x: np.ndarray, y: np.ndarray) -> _Prepared:
    skip = int(len(x) * WARMUP_FRACTION)
    xs, ys = x[skip:], y[skip:]
    window = max(1, len(xs) // TARGET_WINDOWS)
    fx, fy = stats.window_floors(xs, ys, window, FLOOR_QUANTILE)
    tail_len = max(3, int(round(len(fx) * TAIL_FRACTION)))
    slope = float(np.median(stats.pairwise_slopes(fx, fy)))
    noise = stats.robust_sd(ys - slope * xs)
    return _Prepared((fx, fy), (fx[-tail_len:], fy[-tail_len:]), float(xs[-1] - xs[0]), noise)


def _decide(signal: str, series: list[tuple[np.ndarray, np.ndarray]]) -> SignalVerdict:
    """Verdict for one or more series of one signal, each with at least MIN_POINTS points."""
    prepared = [_prepare(x, y) for x, y in series]
    n = sum(len(x) for x, _ in series)
    floors = [p.floors for p in prepared]
    full = stats.trend(floors, alpha=INTERVAL_ALPHA)
    full_eq = stats.trend(floors, alpha=2 * EQUIVALENCE_ALPHA)
    tail = stats.trend([p.tail for p in prepared], alpha=2 * EQUIVALENCE_ALPHA)
    span = max(p.span for p in prepared)
    noise = float(np.median([p.noise for p in prepared]))
    scale, unit = RATE_SCALES[signal], RATE_UNITS[signal]
    floor = SLOPE_FLOORS[signal] / scale
    total_floor = TOTAL_FLOORS[signal]
    floor_text = f"the floor of {_fmt(SLOPE_FLOORS[signal])} {unit}"

    def negligible(t: stats.Trend) -> bool:
        return t.slope_high < floor or t.slope_high * span < total_floor

    grows = full.p_value < ALPHA and full.slope_low > 0
    if not grows:
        if negligible(full_eq):
            return _verdict(signal, "no-leak", full, n, (
                f"no significant growth (p={full.p_value:.2g}); at most {_fmt(full_eq.slope_high * scale)} "
                f"{unit}, under {floor_text}"))
        return _verdict(signal, "inconclusive", full, n, (
            f"no significant growth (p={full.p_value:.2g}), but up to {_fmt(full_eq.slope_high * scale)} "
            f"{unit} is not ruled out; a longer run would decide"))
    if negligible(full_eq):
        return _verdict(signal, "no-leak", full, n, (
            f"grows significantly but by at most {_fmt(full_eq.slope_high * scale)} {unit}, "
            f"under {floor_text}"))
    if stats.levelled_off(full, tail):
        return _levelled(signal, full, tail, n, span, floor, total_floor, floor_text)
    if full.slope_low < floor or full.slope_low * span < total_floor:
        return _verdict(signal, "inconclusive", full, n, (
            f"grows by {_fmt(full.slope * scale)} {unit}, but the interval "
            f"[{_fmt(full.slope_low * scale)}, {_fmt(full.slope_high * scale)}] reaches under {floor_text}"))
    if full.slope * span < NOISE_MULTIPLE * noise:
        return _verdict(signal, "inconclusive", full, n, (
            f"grows by {_fmt(full.slope * scale)} {unit}, but the total growth of "
            f"{_fmt(full.slope * span)} {VALUE_UNITS[signal]} is within {_fmt(NOISE_MULTIPLE)} "
            f"times the noise ({_fmt(noise)} {VALUE_UNITS[signal]})"))
    return _verdict(signal, "leak", full, n, (
        f"grows steadily by {_fmt(full.slope * scale)} {unit} (p={full.p_value:.2g}), "
        f"{_fmt(full.slope * span)} {VALUE_UNITS[signal]} over {_fmt(span)} invocations, "
        f"and has not levelled off"))


def _levelled(signal, full, tail, n, span, floor, total_floor, floor_text) -> SignalVerdict:
    scale, unit = RATE_SCALES[signal], RATE_UNITS[signal]
    tail_rate = f"{_fmt(tail.slope * scale)} {unit}"
    if tail.p_value < ALPHA and tail.slope_low >= floor and tail.slope_low * span >= total_floor:
        return _verdict(signal, "leak", tail, n, (
            f"growth slowed from {_fmt(full.slope * scale)} to {tail_rate} but still leaks "
            f"in the last part (p={tail.p_value:.2g})"))
    if tail.slope_high < floor:
        return _verdict(signal, "no-leak", full, n, (
            f"grew early ({_fmt(full.slope * scale)} {unit}) and then levelled off: "
            f"the last part grows {tail_rate}, under {floor_text}"))
    return _verdict(signal, "inconclusive", full, n, (
        f"growth slowed from {_fmt(full.slope * scale)} {unit} to {tail_rate}; whether it stops "
        f"is not clear yet"))


def assess_series(signal: str, x, y) -> SignalVerdict:
    """Verdict for one environment's series: x = env_invocation, y = the signal's value."""
    _check_signal(signal)
    xa, ya = stats.as_series(x, y, min_points=0)
    if len(xa) < MIN_POINTS:
        return _verdict(signal, "inconclusive", None, len(xa), (
            f"only {len(xa)} invocations with a {signal} value; at least {MIN_POINTS} are needed"))
    return _decide(signal, [(xa, ya)])


def _segments(rows: list[dict], signal: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-environment series of one signal; a cold start inside an environment starts a new one."""
    value_field = SIGNAL_FIELDS[signal]
    by_env: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row.get("env_id") and row.get("env_invocation") is not None and row.get(value_field) is not None:
            by_env[row["env_id"]].append(row)
    segments: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for env_id, env_rows in by_env.items():
        env_rows.sort(key=lambda r: r["env_invocation"])
        parts: list[list[dict]] = [[]]
        for row in env_rows:
            if parts[-1] and row.get("cold_start"):
                parts.append([])
            if parts[-1] and parts[-1][-1]["env_invocation"] == row["env_invocation"]:
                raise ValueError(f"environment {env_id} has env_invocation {row['env_invocation']!r} twice")
            parts[-1].append(row)
        for i, part in enumerate(parts):
            key = env_id if i == 0 else f"{env_id}#{i + 1}"
            segments[key] = (
                np.array([r["env_invocation"] for r in part], dtype=float),
                np.array([r[value_field] for r in part], dtype=float),
            )
    return segments


def _pooled(signal: str, segments: dict[str, tuple[np.ndarray, np.ndarray]]) -> SignalVerdict:
    usable = [s for s in segments.values() if len(s[0]) >= MIN_POINTS]
    if not usable:
        longest = max((len(s[0]) for s in segments.values()), default=0)
        return _verdict(signal, "inconclusive", None, sum(len(s[0]) for s in segments.values()), (
            f"no environment has {MIN_POINTS} invocations with a {signal} value "
            f"(longest: {longest})"))
    verdict = _decide(signal, usable)
    if len(usable) > 1:
        verdict = SignalVerdict(**{**asdict(verdict), "reason": f"{verdict.reason} ({len(usable)} environments pooled)"})
    return verdict


def overall(verdicts) -> str:
    """leak if any verdict is leak; inconclusive if none leaks but one is inconclusive; else no-leak."""
    names = [v.verdict for v in verdicts]
    if "leak" in names:
        return "leak"
    if "inconclusive" in names:
        return "inconclusive"
    return "no-leak"


def _variant_reason(signals: dict[str, SignalVerdict], verdict: str) -> str:
    if verdict == "leak":
        parts = [f"{v.signal} ({_fmt(v.slope)} {v.unit})" for v in signals.values() if v.verdict == "leak"]
        return "leaks " + ", ".join(parts)
    if verdict == "inconclusive":
        names = [v.signal for v in signals.values() if v.verdict == "inconclusive"]
        return "inconclusive on " + ", ".join(names) + "; no leak found"
    return "no signal grows beyond its floor"


def assess_variant(rows: list[dict]) -> VariantVerdict:
    """Verdicts for the invocation rows of one function (run-directory invocations.jsonl rows)."""
    if not rows:
        raise ValueError("rows is empty; at least one invocation row is needed")
    functions = sorted({str(r.get("function")) for r in rows})
    if len(functions) > 1:
        raise ValueError(f"rows mix functions: {', '.join(functions)}")
    signals: dict[str, SignalVerdict] = {}
    environments: dict[str, dict[str, SignalVerdict]] = defaultdict(dict)
    for signal in SIGNALS:
        segments = _segments(rows, signal)
        signals[signal] = _pooled(signal, segments)
        for env_id, (x, y) in segments.items():
            environments[env_id][signal] = assess_series(signal, x, y)
    verdict = overall(signals.values())
    first = rows[0]
    invocations = sum(1 for r in rows if r.get("status", "ok") != "throttled")
    return VariantVerdict(
        function=functions[0], pair=first.get("pair"), variant=first.get("variant"), verdict=verdict,
        invocations=invocations, signals=signals, environments=dict(environments),
        reason=_variant_reason(signals, verdict),
    )


def assess_run(invocation_rows: list[dict]) -> dict[str, VariantVerdict]:
    """Verdicts for every function in a run, keyed by function name."""
    by_function: dict[str, list[dict]] = defaultdict(list)
    for row in invocation_rows:
        by_function[row.get("function")].append(row)
    return {name: assess_variant(rows) for name, rows in sorted(by_function.items(), key=lambda kv: str(kv[0]))}


def initial_peak_increase(rows: list[dict], signal: str) -> dict[str, dict]:
    """Initial / peak / increase of a signal per function, in VALUE_UNITS (rss in bytes).

    initial: median over environments of each environment's first value; peak: highest value seen;
    increase: peak - initial. None when no row carries the signal.
    """
    _check_signal(signal)
    by_function: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_function[row.get("function")].append(row)
    table = {}
    for name, function_rows in by_function.items():
        segments = _segments(function_rows, signal)
        if not segments:
            table[name] = {"initial": None, "peak": None, "increase": None, "unit": VALUE_UNITS[signal]}
            continue
        initial = float(np.median([y[0] for _, y in segments.values()]))
        peak = float(max(np.max(y) for _, y in segments.values()))
        table[name] = {"initial": initial, "peak": peak, "increase": peak - initial, "unit": VALUE_UNITS[signal]}
    return table
