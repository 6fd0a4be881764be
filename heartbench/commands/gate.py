"""`heartbench gate RUN_DIR`: fail a CI job when a fixed variant leaks, a leaky variant goes
undetected, or a metric regresses against a baseline results.json.

Exit codes: 0 every check passed, 1 a check failed, 2 usage or runtime error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from heartbench.errors import EXIT_LEAK, EXIT_OK, HeartbenchError

NAME = "gate"
HELP = ("Check a run: fixed variants must not leak, leaky ones must be detected, metrics must "
        "not regress against a baseline. Exit 0 pass, 1 fail, 2 error.")
GATE_JUNIT_NAME = "gate-junit.xml"


def prepare_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. reports/<run-id>")
    p.add_argument("--baseline", metavar="FILE", default=os.environ.get("HEARTBENCH_BASELINE"),
                   help="results.json of an earlier run (or its run directory) to compare "
                        "against (env HEARTBENCH_BASELINE)")
    p.add_argument("--fail-on", metavar="EXPR", action="append", default=[],
                   help="METRIC:TOLERANCE, repeatable: fail when METRIC is worse than in the "
                        "baseline by more than TOLERANCE, relative (rss_slope:10%%) or absolute "
                        "(error_rate:0.01). Metrics: threads_slope, tasks_slope, rss_slope, "
                        "fds_slope, p50_ms, p99_ms, error_rate, throttle_rate")
    p.add_argument("--junit", metavar="FILE",
                   help=f"write JUnit XML here (default RUN_DIR/{GATE_JUNIT_NAME})")


def run(args: argparse.Namespace) -> int:
    from analysis import gate
    from analysis.junit import write_junit
    from analysis.results import build_results
    from analysis.rundir import load_run

    try:
        tolerances = [gate.parse_fail_on(text) for text in args.fail_on]
        if tolerances and not args.baseline:
            raise gate.GateError(f"--fail-on {args.fail_on[0]} needs --baseline FILE "
                                 f"to compare against")
        baseline = gate.load_baseline(args.baseline) if args.baseline else None
        run_dir = load_run(args.run_dir)
        results = build_results(run_dir)
    except ValueError as e:   # GateError, RunDirError: one line naming the value
        raise HeartbenchError(str(e)) from None
    for warning in results["notes"] + gate.baseline_warnings(results, baseline):
        print(f"heartbench gate: warning: {warning}", file=sys.stderr)
    outcomes = gate.run_checks(gate.build_checks(results, tolerances, baseline), results, baseline)
    failed = [o for o in outcomes if not o.passed]
    _print_outcomes(results, outcomes, failed)
    junit_path = Path(args.junit) if args.junit else run_dir.path / GATE_JUNIT_NAME
    try:
        write_junit(junit_path, outcomes, f"heartbench gate {results['run_id']}",
                    {"run_id": results["run_id"],
                     "baseline": (baseline or {}).get("run_id") or ""})
        _append_step_summary(results, outcomes)
    except OSError as e:
        raise HeartbenchError(f"cannot write {e.filename}: {e.strerror}") from None
    return EXIT_LEAK if failed else EXIT_OK


def _print_outcomes(results: dict, outcomes, failed) -> None:
    head = (f"heartbench gate: run {results['run_id']}, {len(results['variants'])} variants, "
            f"{len(outcomes)} checks: ")
    print(head + (f"{len(failed)} failed" if failed else "all passed"))
    for outcome in failed:
        print(f"FAIL {outcome.message}")


def _append_step_summary(results: dict, outcomes) -> None:
    """Append a Markdown summary to $GITHUB_STEP_SUMMARY when GitHub Actions sets it."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    from analysis.report import checks_markdown, variants_markdown_table

    failed = sum(not o.passed for o in outcomes)
    title = "failed" if failed else "passed"
    text = (f"## heartbench gate {title}: run {results['run_id']}\n\n"
            f"{checks_markdown(outcomes)}\n{variants_markdown_table(results)}\n")
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
