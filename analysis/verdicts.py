"""Leak verdicts per signal, per environment and per variant, from invocation rows of a run.

A signal's series is its value after each invocation of one execution environment, against the
environment's invocation count (`env_invocation`). Environments are never fitted together: a cold
start begins a new series. The decision for one or more series (several environments are pooled with
the Seasonal Kendall method, see analysis.stats) goes:

1. Drop the warm-up: the first WARMUP_FRACTION of each series, and at least WARMUP_INVOCATIONS
   invocations (never more than half). Then take windowed floors (block minima, TARGET_WINDOWS
   for the longest series; pooled series share the window, so longer environments weigh more).
2. Mann-Kendall test with the Hamed & Rao autocorrelation correction, and the Theil-Sen slope with
   its 95 % interval, on the floors; the same again on the last TAIL_FRACTION and the last
   RECENT_FRACTION of the floors.
3. "no-leak" when the 90 % interval of the slope lies under SLOPE_FLOORS (two one-sided tests), or
   when that of a last part does although the earlier rise would have shown in it above its noise
   and above STEPS: growth that levelled off (warm-up, a bounded cache). The last third counts only
   when the longer last part is significantly slower than the whole.
4. "leak" only when the growth is significant (p < ALPHA), the last part is not significantly slower
   than the whole (plateau test) and still grows (p < TAIL_ALPHA), the 95 % interval clears
   SLOPE_FLOORS and TOTAL_FLOORS over the observed span, and the total growth exceeds
   NOISE_MULTIPLE times the noise of the floors. Growth that slowed down is a leak only if its last
   part passes these tests on its own.
5. Anything else is "inconclusive": a longer run would decide.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace

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
NOISE_MULTIPLE = 2.0      # total growth must also exceed this many robust sds of the floors' noise
MIN_POINTS = 20           # fewer invocations in an environment: inconclusive
MIN_FLOORS = 6            # a pooled environment must yield this many windowed floors to count
WARMUP_FRACTION = 0.2     # leading share of each series left out of the fit
WARMUP_INVOCATIONS = 20   # ... and at least this many leading invocations
TARGET_WINDOWS = 40       # windowed floors per series
FLOOR_QUANTILE = 0.0      # 0.0: window minimum
TAIL_FRACTION = 0.67      # share of the floors fitted again for the plateau test
RECENT_FRACTION = 0.33    # ... and a shorter last part, which may alone show a plateau
# Smallest change of each signal in value units: whole threads, tasks, fds; a 4 KiB page of RSS.
STEPS = {"threads": 1.0, "tasks": 1.0, "rss": 4096.0, "fds": 1.0}
ALPHA = 0.01              # one-sided Mann-Kendall level for "grows"
TAIL_ALPHA = 0.05         # one-sided level at which the last part must grow too, for a leak
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


def format_number(value: float, sign: bool = False) -> str:
    """3 significant digits without exponents: 0.0123, 1.5, 41.7, 1,000 (+ in front with `sign`)."""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return ("+" if sign and value >= 0 else "") + text


def _verdict(signal, verdict, trend, n, reason) -> SignalVerdict:
    scale = RATE_SCALES[signal]
    if trend is None:
        return SignalVerdict(signal, verdict, None, None, None, RATE_UNITS[signal], None, n, reason)
    return SignalVerdict(
        signal, verdict, trend.slope * scale, trend.slope_low * scale, trend.slope_high * scale,
        RATE_UNITS[signal], trend.p_value, n, reason,
    )


def _post_warmup(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The series without its warm-up: WARMUP_FRACTION of it, and at least WARMUP_INVOCATIONS
    (but never more than half of it)."""
    skip = max(int(len(x) * WARMUP_FRACTION), min(WARMUP_INVOCATIONS, len(x) // 2))
    return x[skip:], y[skip:]


def _last(block: tuple[np.ndarray, np.ndarray], fraction: float) -> tuple[np.ndarray, np.ndarray]:
    count = max(3, int(round(len(block[0]) * fraction)))
    return block[0][-count:], block[1][-count:]


def _residual_sd(x: np.ndarray, y: np.ndarray) -> float:
    """Robust sd of a series around its own Theil-Sen line."""
    slope = float(np.median(stats.pairwise_slopes(x, y)))
    return stats.robust_sd(y - slope * x)


@dataclass(frozen=True)
class _Part:
    """One stretch of every environment's floors: all of them, the last part, or the last third."""

    trend: stats.Trend      # INTERVAL_ALPHA interval
    trend_eq: stats.Trend   # equivalence interval
    span: float             # longest stretch over the environments, invocations
    noise: float            # median robust sd of the floors around their own line, value units

    @classmethod
    def fit(cls, blocks: list[tuple[np.ndarray, np.ndarray]]) -> "_Part":
        return cls(stats.trend(blocks, alpha=INTERVAL_ALPHA), stats.trend(blocks, alpha=2 * EQUIVALENCE_ALPHA),
                   max(float(x[-1] - x[0]) for x, _ in blocks),
                   float(np.median([_residual_sd(x, y) for x, y in blocks])))


@dataclass(frozen=True)
class _Evidence:
    """Trend fits of one signal, all slopes in value units per invocation."""

    whole: _Part
    tail: _Part             # last TAIL_FRACTION of the floors
    recent: _Part           # last RECENT_FRACTION of the floors
    rise_rate: float        # median net rise of the floors over their span
    floor: float            # SLOPE_FLOORS: "no-leak" needs the equivalence interval under it
    leak_floor: float       # floor raised by TOTAL_FLOORS over the span: a leak's interval clears it
    n: int


def _evidence(signal: str, series: list[tuple[np.ndarray, np.ndarray]]) -> _Evidence:
    """Fit one or more series; the window is shared, so longer environments weigh more."""
    longest = max(len(_post_warmup(x, y)[0]) for x, y in series)
    window = max(1, longest // TARGET_WINDOWS)
    blocks = [stats.window_floors(*_post_warmup(x, y), window, FLOOR_QUANTILE) for x, y in series]
    blocks = [b for b in blocks if len(b[0]) >= MIN_FLOORS]
    whole = _Part.fit(blocks)
    floor = SLOPE_FLOORS[signal] / RATE_SCALES[signal]
    return _Evidence(
        whole=whole,
        tail=_Part.fit([_last(b, TAIL_FRACTION) for b in blocks]),
        recent=_Part.fit([_last(b, RECENT_FRACTION) for b in blocks]),
        rise_rate=float(np.median([(y[-1] - y[0]) / (x[-1] - x[0]) for x, y in blocks])),
        floor=floor,
        leak_floor=max(floor, TOTAL_FLOORS[signal] / whole.span),
        n=sum(len(x) for x, _ in series),
    )


def _decide(signal: str, series: list[tuple[np.ndarray, np.ndarray]]) -> SignalVerdict:
    """Verdict for one or more series of one signal, each with at least MIN_POINTS points."""
    ev = _evidence(signal, series)
    verdict = _judge(signal, ev)
    if ev.whole.trend.blocks > 1:
        verdict = replace(verdict, reason=f"{verdict.reason} ({ev.whole.trend.blocks} environments pooled)")
    return verdict


def _against(trend: stats.Trend, floor: float) -> str:
    """Where a slope interval lies against an effect-size floor: "above", "below" or "straddles"."""
    return stats.effect_size(trend.slope_low, trend.slope_high, floor)


def _judge(signal: str, ev: _Evidence) -> SignalVerdict:
    full, tail, span, noise = ev.whole.trend, ev.tail.trend, ev.whole.span, ev.whole.noise
    scale, unit, value_unit = RATE_SCALES[signal], RATE_UNITS[signal], VALUE_UNITS[signal]

    def rate(slope: float) -> str:
        return f"{format_number(slope * scale)} {unit}"

    def says(verdict: str, reason: str, trend: stats.Trend = full) -> SignalVerdict:
        return _verdict(signal, verdict, trend, ev.n, reason)

    grows = full.p_value < ALPHA and full.slope_low > 0
    p_text = f"p={full.p_value:.2g}"
    floor_text = f"the floor of {rate(ev.floor)}"
    if grows:
        trend_text = f"grows ({p_text})"
    elif full.p_value < ALPHA:
        trend_text = f"rises ({p_text}) but its slope interval reaches zero"
    else:
        trend_text = f"no significant growth ({p_text})"
    if _against(ev.whole.trend_eq, ev.floor) == "below":
        return says("no-leak", f"{trend_text}; the lowest value in each window grows at most "
                               f"{rate(ev.whole.trend_eq.slope_high)} (90% interval): under {floor_text}")
    slowed = stats.levelled_off(full, ev.tail.trend_eq)
    for part, needs_slowing in ((ev.tail, False), (ev.recent, True)):
        # A flat last part says "levelled off" only if the earlier rise would have shown in it
        # above its noise (a staircase of whole threads can sit on one step for a while), and
        # the short last third only once the longer last part has slowed down too.
        visible = max(2 * STEPS[signal], NOISE_MULTIPLE * part.noise)
        if (_against(part.trend_eq, ev.floor) == "below" and ev.rise_rate * part.span >= visible
                and (slowed or not needs_slowing)):
            return says("no-leak", f"grew by {rate(full.slope)} overall ({p_text}) and then levelled "
                                   f"off: the last {format_number(part.span)} invocations grow at most "
                                   f"{rate(part.trend_eq.slope_high)}, under {floor_text}")
    if not grows:
        return says("inconclusive", f"{trend_text}, and up to {rate(ev.whole.trend_eq.slope_high)} is "
                                    f"not ruled out; a longer run would decide")
    if slowed:
        if (tail.p_value < ALPHA and _against(tail, ev.leak_floor) == "above"
                and tail.slope * span >= NOISE_MULTIPLE * noise):
            return says("leak", f"growth slowed from {rate(full.slope)} to {rate(tail.slope)} but "
                                f"the last part still leaks (p={tail.p_value:.2g})", tail)
        return says("inconclusive", f"growth slowed from {rate(full.slope)} to {rate(tail.slope)}; "
                                    f"whether it stops is not clear yet")
    if tail.p_value >= TAIL_ALPHA:
        return says("inconclusive", f"grows by {rate(full.slope)} overall ({p_text}), but the last "
                                    f"part shows no clear growth (p={tail.p_value:.2g})")
    if _against(full, ev.leak_floor) != "above":
        return says("inconclusive", f"grows by {rate(full.slope)} ({p_text}), but the interval "
                                    f"[{format_number(full.slope_low * scale)}, {format_number(full.slope_high * scale)}] "
                                    f"reaches under {floor_text} or {format_number(TOTAL_FLOORS[signal])} "
                                    f"{value_unit} over the run")
    if full.slope * span < NOISE_MULTIPLE * noise:
        return says("inconclusive", f"grows by {rate(full.slope)} ({p_text}), but the total of "
                                    f"{format_number(full.slope * span)} {value_unit} is within "
                                    f"{format_number(NOISE_MULTIPLE)}x the noise ({format_number(noise)} {value_unit})")
    return says("leak", f"grows steadily by {rate(full.slope)} ({p_text}), "
                        f"{format_number(full.slope * span)} {value_unit} over {format_number(span)} invocations, "
                        f"without levelling off")


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
    return _decide(signal, usable)


OOM_ERROR = "Runtime.OutOfMemory"
OOM_MIN_KILLS = 2          # memory kills needed before they count as evidence
OOM_NEAR_LIMIT = 0.6       # an environment's last RSS value reached this share of the memory size
OOM_MIN_POINTS = 5         # invocations an environment needs for its climb to be tested


def _killed_for_memory(rows: list[dict], segments: dict, pooled: SignalVerdict) -> SignalVerdict | None:
    """RSS leak evidence from environments that climbed to their memory size and were killed.

    A leak fast enough to get environments killed (Runtime.OutOfMemory) can leave every lifetime
    shorter than MIN_POINTS, and so undecided by the trend test. Repeated kills, each after an
    environment's RSS rose steadily (Mann-Kendall, p < ALPHA, slope interval above the floor) to
    within reach of the memory size, are a leak. One burst that overshoots is not: it has no climb.
    """
    kills = sum(1 for r in rows if r.get("error_type") == OOM_ERROR)
    sizes = [r["memory_size_mb"] for r in rows if r.get("memory_size_mb")]
    if pooled.verdict == "leak" or kills < OOM_MIN_KILLS or not sizes:
        return None
    limit_bytes = max(sizes) * 1024 * 1024
    climbs = []
    for x, y in segments.values():
        if len(x) < OOM_MIN_POINTS or y[-1] < OOM_NEAR_LIMIT * limit_bytes:
            continue
        climb = stats.trend([(x, y)], alpha=INTERVAL_ALPHA)
        if climb.p_value < ALPHA and climb.slope_low * RATE_SCALES["rss"] >= SLOPE_FLOORS["rss"]:
            climbs.append((x, y))
    if len(climbs) < OOM_MIN_KILLS:
        return None
    combined = stats.trend(climbs, alpha=INTERVAL_ALPHA)
    peak_mib = max(float(y[-1]) for _, y in climbs) / 2**20
    reason = (f"{len(climbs)} environments climbed steadily to as much as {peak_mib:.0f} MiB of the "
              f"{max(sizes)} MB memory size, and {kills} invocations were killed for memory "
              f"({OOM_ERROR}): {format_number(combined.slope * RATE_SCALES['rss'])} {RATE_UNITS['rss']}")
    return _verdict("rss", "leak", combined, sum(len(x) for x, _ in climbs), reason)


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
        parts = [f"{v.signal} ({format_number(v.slope)} {v.unit})" for v in signals.values() if v.verdict == "leak"]
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
        if signal == "rss":
            signals[signal] = _killed_for_memory(rows, segments, signals[signal]) or signals[signal]
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
