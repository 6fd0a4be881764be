"""The CI gate: small checks over a run's results, each returning a failure message or None.

Checks, per variant:
- HasData: invocations were recorded and carried telemetry.
- FixedDoesNotLeak: a fixed variant's verdict is not "leak" on any signal.
- LeakyIsDetected: a leaky variant is told apart from its fixed partner (verdict "leak", or it
  fails at least analysis.results.ERROR_RATE_MARGIN more invocations: the conditional-write pair's
  flaw is failed invocations, not a resource leak). Otherwise the detector is broken.
- Regression: a metric got worse than in a baseline results.json beyond a tolerance parsed from
  `METRIC:TOLERANCE` (`rss_slope:10%` relative, `error_rate:0.01` absolute). Slopes compare the
  lower end of the current 95% interval, and only once it reaches the detector's effect-size
  floor (analysis.verdicts.SLOPE_FLOORS): noise, and growth too small to be a leak, never fail.

Every check runs; `run_checks` returns all outcomes and the caller exits once.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from analysis.results import METRIC_UNITS, RESULTS_KIND, SLOPE_METRICS
from analysis.verdicts import SLOPE_FLOORS


class GateError(ValueError):
    """A bad gate argument or baseline file: one line naming the value."""


@dataclass(frozen=True)
class Tolerance:
    metric: str
    amount: float
    percent: bool
    text: str

    def limit(self, baseline: float) -> float:
        return baseline + (abs(baseline) * self.amount / 100 if self.percent else self.amount)

    def describe(self) -> str:
        return f"+{_plain(self.amount)}%" if self.percent else f"+{_plain(self.amount)}"


def parse_fail_on(text: str) -> Tolerance:
    """Parse `METRIC:TOLERANCE`, e.g. `rss_slope:10%` or `error_rate:0.01`."""
    prefix = f"invalid --fail-on value {text!r}"
    metric, sep, amount_text = text.partition(":")
    metric, amount_text = metric.strip(), amount_text.strip()
    if not sep or not metric or not amount_text:
        raise GateError(f"{prefix}: expected METRIC:TOLERANCE such as rss_slope:10% "
                        f"or error_rate:0.01")
    if metric not in METRIC_UNITS:
        close = [m for m in METRIC_UNITS if m.startswith(metric)] \
            or difflib.get_close_matches(metric, METRIC_UNITS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise GateError(f"{prefix}: unknown metric {metric!r}{hint}; metrics: "
                        f"{', '.join(METRIC_UNITS)}")
    percent = amount_text.endswith("%")
    try:
        amount = float(amount_text[:-1] if percent else amount_text)
    except ValueError:
        amount = math.nan
    if not math.isfinite(amount):
        raise GateError(f"{prefix}: tolerance {amount_text!r} is not a number "
                        f"or a percentage such as 10%")
    if amount < 0:
        raise GateError(f"{prefix}: tolerance {amount_text!r} must not be negative")
    return Tolerance(metric, amount, percent, text)


def load_baseline(path: str | Path) -> dict:
    """A results.json of an earlier run (or a run directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise GateError(f"baseline {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GateError(f"baseline {path}: cannot read: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict) or data.get("kind") != RESULTS_KIND:
        raise GateError(f"baseline {path}: not a heartbench results.json "
                        f"(write one with `heartbench report`)")
    return data


def machine_warning(results: dict, baseline: dict) -> str | None:
    """A warning when the baseline was recorded on another kind of machine, else None.
    Host names are not compared: CI runners of one kind differ only in name."""
    keys = ("platform", "cpu_count", "memory_bytes")
    here = results.get("run", {}).get("machine", {})
    there = baseline.get("run", {}).get("machine", {})
    if all(here.get(k) == there.get(k) for k in keys):
        return None
    return (f"baseline run {baseline.get('run_id')} was recorded on another machine "
            f"({_machine(there)}) than this run ({_machine(here)}); comparisons may not hold")


def _machine(m: dict) -> str:
    memory = m.get("memory_bytes")
    memory_text = f"{memory / 2**30:.1f} GiB" if isinstance(memory, (int, float)) else "? GiB"
    return f"{m.get('hostname', '?')}, {m.get('cpu_count', '?')} CPUs, {memory_text}"


# -- checks ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckOutcome:
    name: str
    function: str
    message: str | None

    @property
    def passed(self) -> bool:
        return self.message is None


def has_telemetry(variant: dict) -> bool:
    return any(s["n"] > 0 for s in variant["signals"].values())


@dataclass(frozen=True)
class HasData:
    function: str
    name: str = "has data"

    def run(self, results: dict, baseline: dict | None) -> str | None:
        variant = results["variants"][self.function]
        if variant["invocations"] == 0:
            return f"{self.function}: no invocations recorded"
        if not has_telemetry(variant):
            return (f"{self.function}: {variant['invocations']} invocations but none carried "
                    f"telemetry (no EMF line in the log tails)")
        return None


@dataclass(frozen=True)
class FixedDoesNotLeak:
    function: str
    name: str = "fixed variant does not leak"

    def run(self, results: dict, baseline: dict | None) -> str | None:
        signals = results["variants"][self.function]["signals"]
        leaks = [f"{name}: {describe_slope(s)}" for name, s in signals.items()
                 if s["verdict"] == "leak"]
        return f"{self.function}: fixed variant leaks {'; '.join(leaks)}" if leaks else None


@dataclass(frozen=True)
class LeakyIsDetected:
    function: str
    partner: str | None
    name: str = "leaky variant is detected"

    def run(self, results: dict, baseline: dict | None) -> str | None:
        variant = results["variants"][self.function]
        if variant.get("detected_by") or not has_telemetry(variant):
            return None                 # without data HasData fails: no second message
        per_signal = ", ".join(f"{name} {s['verdict']}" for name, s in variant["signals"].items())
        message = (f"{self.function}: leaky variant not detected: verdict {variant['verdict']} "
                   f"({per_signal})")
        partner = results["variants"].get(self.partner) if self.partner else None
        errors = variant["metrics"].get("error_rate")
        partner_errors = partner["metrics"].get("error_rate") if partner else None
        if errors is not None and partner_errors is not None:
            message += f", error rate {errors:.1%} vs {partner_errors:.1%} for {self.partner}"
        undecided = [s for s in variant["signals"].values() if s["verdict"] == "inconclusive"]
        if variant["verdict"] == "inconclusive" and undecided:
            message += f"; {undecided[0]['signal']}: {undecided[0]['reason']}"
        return message + "; is the detector broken?"


@dataclass(frozen=True)
class Regression:
    function: str
    tolerance: Tolerance

    @property
    def name(self) -> str:
        return f"{self.tolerance.metric} within {self.tolerance.describe()} of baseline"

    def run(self, results: dict, baseline: dict | None) -> str | None:
        metric = self.tolerance.metric
        current = results["variants"][self.function]
        before = (baseline or {}).get("variants", {}).get(self.function)
        if before is None:
            return None
        value, base = current["metrics"].get(metric), before.get("metrics", {}).get(metric)
        if value is None or base is None:
            return None
        limit = self.tolerance.limit(base)
        signal = SLOPE_METRICS.get(metric)
        if signal:
            measured = current["signals"][signal]
            low = measured.get("slope_low")
            low = value if low is None else low
            if low <= limit or low < SLOPE_FLOORS[signal]:
                return None
            unit = measured["unit"]
            return (f"{self.function}: {metric} regressed: {describe_slope(measured)} "
                    f"vs baseline {base:+.1f} {unit}, limit {limit:+.1f} "
                    f"({self.tolerance.describe()})")
        if value <= limit:
            return None
        return (f"{self.function}: {metric} regressed: {_metric(metric, value)} vs baseline "
                f"{_metric(metric, base)}, limit {_metric(metric, limit)} "
                f"({self.tolerance.describe()})")


def describe_slope(signal: dict) -> str:
    """`+12.0 threads per 1k invocations (95% CI 10.1..13.9)`."""
    text = f"{_num(signal['slope'], sign=True)} {signal['unit']}"
    if signal.get("slope_low") is not None and signal.get("slope_high") is not None:
        text += f" (95% CI {_num(signal['slope_low'])}..{_num(signal['slope_high'])})"
    return text


def _num(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "?"
    if value != 0 and abs(value) < 0.1:
        return f"{value:+.2g}" if sign else f"{value:.2g}"
    return f"{value:+.1f}" if sign else f"{value:.1f}"


def _plain(value: float) -> str:
    return f"{value:g}"


def _metric(metric: str, value: float) -> str:
    unit = METRIC_UNITS[metric]
    if metric.endswith("_rate"):
        return f"{value:.3f}"
    return f"{value:.1f} {unit}".rstrip()


def build_checks(results: dict, tolerances: list[Tolerance], baseline: dict | None) -> list:
    checks: list = []
    for group, functions in results["groups"].items():
        for function in functions:
            variant = results["variants"][function]
            checks.append(HasData(function))
            if variant["variant"] == "fixed":
                checks.append(FixedDoesNotLeak(function))
            elif variant["variant"] == "leaky":
                partner = next((f for f in functions
                                if results["variants"][f]["variant"] == "fixed"), None)
                checks.append(LeakyIsDetected(function, partner))
            if baseline is not None:
                checks.extend(Regression(function, t) for t in tolerances)
    return checks


def run_checks(checks: list, results: dict, baseline: dict | None) -> list[CheckOutcome]:
    return [CheckOutcome(check.name, check.function, check.run(results, baseline))
            for check in checks]


def baseline_warnings(results: dict, baseline: dict | None) -> list[str]:
    if baseline is None:
        return []
    warnings = []
    machine = machine_warning(results, baseline)
    if machine:
        warnings.append(machine)
    missing = [f for f in results["variants"] if f not in baseline.get("variants", {})]
    if missing:
        warnings.append(f"baseline run {baseline.get('run_id')} has no {', '.join(missing)}; "
                        f"not compared")
    return warnings
