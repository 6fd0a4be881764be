"""`heartbench report`: shape a run's results, then render them.

`write_report(run_dir)` writes into the run directory (or `out_dir`): report.html (one
self-contained file: figures as base64 PNG, inline CSS, no external resources), summary.md,
results.json, junit.xml (the gate's checks without a baseline) and figures/*.png. Existing
products are never overwritten unless `force=True`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from analysis import gate
from analysis.figures import write_figures
from analysis.html import format_value, render_html
from analysis.junit import write_junit
from analysis.results import build_results, expectation
from analysis.rundir import load_run

PRODUCTS = ("report.html", "summary.md", "results.json", "junit.xml")
SIGNAL_TITLES = {"threads": "threads", "tasks": "asyncio tasks", "rss": "RSS", "fds": "fds"}


class ReportError(ValueError):
    """The report cannot be written (e.g. it exists and --force was not given)."""


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    summary: Path
    results: Path
    junit: Path
    figures: list[Path]
    failed_checks: int


def write_report(run_dir: str | Path, out_dir: str | Path | None = None, force: bool = False,
                 tool_version: str = "") -> ReportFiles:
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.path
    existing = [name for name in PRODUCTS if (out / name).exists()]
    if existing and not force:
        raise ReportError(f"{out / existing[0]} already exists; use --force to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    results = build_results(run, tool_version=tool_version)
    outcomes = gate.run_checks(gate.build_checks(results, [], None), results, None)
    figures = write_figures(run, results, out / "figures")
    files = ReportFiles(html=out / "report.html", summary=out / "summary.md",
                        results=out / "results.json", junit=out / "junit.xml",
                        figures=[p for paths in figures.values() for p in paths.values()],
                        failed_checks=sum(not o.passed for o in outcomes))
    files.results.write_text(json.dumps(results, indent=2) + "\n")
    files.summary.write_text(render_markdown(results, outcomes))
    write_junit(files.junit, outcomes, f"heartbench report {results['run_id']}")
    files.html.write_text(render_html(results, outcomes, figures))
    return files


# -- Markdown -------------------------------------------------------------------------------------

def expectation_text(variant: dict) -> str:
    ok, text = expectation(variant)
    return text if ok is not False else f"UNEXPECTED ({text})"


def signal_cell(signal: dict) -> str:
    """`LEAK +1000.0 threads per 1k invocations` or `no-leak`."""
    if signal["verdict"] == "leak":
        return f"LEAK {gate.describe_slope(signal)}"
    return signal["verdict"]


def variants_markdown_table(results: dict) -> str:
    lines = ["| pair | function | verdict | threads | tasks | RSS | fds | p99 (ms) | errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for group, functions in results["groups"].items():
        for function in functions:
            v = results["variants"][function]
            verdict = f"**{v['verdict']}** {expectation_text(v)}".rstrip()
            cells = [_signal_short(v["signals"][s]) for s in ("threads", "tasks", "rss", "fds")]
            p99 = v["metrics"].get("p99_ms")
            errors = v["metrics"].get("error_rate")
            lines.append(f"| {group} | {function} | {verdict} | {' | '.join(cells)} | "
                         f"{'-' if p99 is None else f'{p99:.0f}'} | "
                         f"{'-' if errors is None else f'{errors:.1%}'} |")
    return "\n".join(lines) + "\n"


def _signal_short(signal: dict) -> str:
    if signal["slope"] is None:
        return signal["verdict"]
    unit = signal["unit"].replace(" per 1k invocations", "/1k inv").replace(" per invocation",
                                                                            "/inv")
    return f"{signal['verdict']} ({signal['slope']:+.1f} {unit})"


def checks_markdown(outcomes) -> str:
    failed = [o for o in outcomes if not o.passed]
    if not failed:
        return f"Gate: **passed**, all {len(outcomes)} checks.\n"
    lines = [f"Gate: **failed**, {len(failed)} of {len(outcomes)} checks:", ""]
    lines += [f"- {o.message}" for o in failed]
    return "\n".join(lines) + "\n"


def render_markdown(results: dict, outcomes) -> str:
    run = results["run"]
    machine = run.get("machine", {})
    commit = (run.get("git", {}).get("commit") or "")[:12]
    parts = [
        f"# heartbench report: run {results['run_id']}",
        "",
        f"Started {run.get('started_utc')}, {run.get('duration_s', 0):.0f} s of load, "
        f"machine {machine.get('hostname', '?')} ({machine.get('cpu_count', '?')} CPUs), "
        f"commit {commit or '?'}.",
        "",
        checks_markdown(outcomes),
        "## Verdicts",
        "",
        "Slopes are per environment, pooled: threads, tasks and fds per 1,000 invocations, "
        "RSS in KiB per invocation.",
        "",
        variants_markdown_table(results),
        "## Initial / peak / increase",
        "",
        initial_peak_markdown(results),
    ]
    if results.get("notes"):
        parts += ["## Notes", ""] + [f"- {note}" for note in results["notes"]] + [""]
    return "\n".join(parts)


def initial_peak_markdown(results: dict) -> str:
    lines = ["| function | signal | initial | peak | increase |", "|---|---|---|---|---|"]
    for functions in results["groups"].values():
        for function in functions:
            for name, signal in results["variants"][function]["signals"].items():
                initial, peak, increase = (format_value(name, signal.get(k))
                                           for k in ("initial", "peak", "increase"))
                lines.append(f"| {function} | {SIGNAL_TITLES[name]} | {initial} | {peak} | "
                             f"{increase} |")
    return "\n".join(lines) + "\n"
