"""Power and false-positive rate of the leak detector on synthetic series.

For each scenario in analysis.synthetic.SCENARIOS, runs the verdict on many seeded series and
prints the share called leak, no-leak and inconclusive. For leak scenarios the leak share is the
power; for the traps it is the false-positive rate.

    python scripts/bench_detector.py [--series 300] [--min-n 200] [--max-n 400] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from analysis import synthetic
from analysis.verdicts import assess_series, assess_variant

POWER_TARGET = 0.9
FALSE_POSITIVE_LIMIT = 0.05


def verdict_for(scenario: synthetic.Scenario, rng: np.random.Generator, n: int) -> str:
    if scenario.kind == "rows":
        return assess_variant(scenario.make(rng, n)).signals[scenario.signal].verdict
    x, y = scenario.make(rng, n)
    return assess_series(scenario.signal, x, y).verdict


def run_scenario(scenario, series: int, min_n: int, max_n: int, seed: int) -> dict[str, float]:
    counts = {"leak": 0, "no-leak": 0, "inconclusive": 0}
    for i in range(series):
        rng = np.random.default_rng([seed, i])
        n = int(rng.integers(min_n, max_n + 1))
        counts[verdict_for(scenario, rng, n)] += 1
    return {name: count / series for name, count in counts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=300, help="seeded series per scenario")
    parser.add_argument("--min-n", type=int, default=200, help="fewest invocations per series")
    parser.add_argument("--max-n", type=int, default=400, help="most invocations per series")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.series < 1 or args.min_n < 1 or args.max_n < args.min_n:
        parser.error("need --series >= 1 and 1 <= --min-n <= --max-n")

    started = time.perf_counter()
    print(f"{args.series} series per scenario, {args.min_n}-{args.max_n} invocations each, seed {args.seed}")
    print(f"{'scenario':<26}{'truth':<9}{'leak':>7}{'no-leak':>9}{'inconcl.':>10}  measure")
    failures = []
    for scenario in synthetic.SCENARIOS:
        shares = run_scenario(scenario, args.series, args.min_n, args.max_n, args.seed)
        if scenario.leak:
            measure = f"power {shares['leak']:.3f}"
            ok = shares["leak"] >= POWER_TARGET
        else:
            measure = f"false positives {shares['leak']:.3f}"
            ok = shares["leak"] <= FALSE_POSITIVE_LIMIT
        if not ok:
            failures.append(scenario.name)
        truth = "leak" if scenario.leak else "no leak"
        print(f"{scenario.name:<26}{truth:<9}{shares['leak']:>7.3f}{shares['no-leak']:>9.3f}"
              f"{shares['inconclusive']:>10.3f}  {measure}{'' if ok else '  (MISSES TARGET)'}")
    print(f"targets: power >= {POWER_TARGET}, false positives <= {FALSE_POSITIVE_LIMIT}; "
          f"{time.perf_counter() - started:.1f} s")
    if failures:
        print("missed targets: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
