"""report.html: one self-contained page (inline CSS, figures as base64 PNG, no scripts, no links out).

Reads the shaped results (analysis.results), the gate outcomes and the figure files; writes nothing.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from analysis import gate, verdicts
from analysis.figures import verdict_color
from analysis.results import expectation

NOTABLE_ERROR_RATE = 0.05   # the overview mentions failures from this share of invocations
SIGNAL_TITLES = {"threads": "threads", "tasks": "asyncio tasks", "rss": "RSS", "fds": "open fds"}

CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0; background: #f4f6f8;
       color: #212121; }
main { max-width: 1360px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 34px; margin: 0 0 6px; }
h2 { font-size: 26px; margin: 0 0 14px; }
h3 { font-size: 19px; margin: 22px 0 8px; }
.sub { color: #546e7a; font-size: 15px; margin: 0; line-height: 1.6; }
section { background: #fff; border-radius: 10px; padding: 22px 26px; margin-top: 22px;
          box-shadow: 0 1px 3px rgba(0,0,0,.12); }
.gate.pass { border-left: 10px solid #2e7d32; }
.gate.fail { border-left: 10px solid #c62828; }
.gate h2 { margin-bottom: 6px; }
.gate ul { margin: 8px 0 0; padding-left: 22px; font-family: "DejaVu Sans Mono", monospace;
           font-size: 14px; line-height: 1.7; }
.badge { display: inline-block; padding: 3px 10px; border-radius: 6px; color: #fff;
         font-weight: bold; font-size: 14px; letter-spacing: .04em; white-space: nowrap; }
.badge.big { font-size: 20px; padding: 5px 14px; }
.ok { color: #2e7d32; font-weight: bold; }
.bad { color: #c62828; font-weight: bold; }
.undecided { color: #ef6c00; font-weight: bold; }
table { border-collapse: collapse; width: 100%; font-size: 15px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid #e0e0e0;
         vertical-align: top; }
th { background: #eceff1; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.cards { display: flex; gap: 18px; }
.card { flex: 1; border: 1px solid #e0e0e0; border-radius: 8px; padding: 14px 16px; }
.card h3 { margin: 0 0 10px; font-size: 21px; }
.card p { margin: 8px 0 0; font-size: 14px; line-height: 1.5; color: #37474f; }
.facts { color: #546e7a; font-size: 14px; }
figure { margin: 20px 0 0; }
figure img { width: 100%; height: auto; border: 1px solid #e0e0e0; border-radius: 6px; }
figcaption { color: #546e7a; font-size: 14px; margin-top: 6px; }
details { margin-top: 16px; font-size: 14px; }
summary { cursor: pointer; font-weight: 600; }
.why { color: #78909c; font-size: 12px; line-height: 1.35; margin-top: 3px; }
footer { color: #546e7a; font-size: 13px; margin-top: 24px; line-height: 1.6; }
a { color: #1565c0; text-decoration: none; }
"""


def badge(verdict: str | None, big: bool = False) -> str:
    text = escape((verdict or "no data").upper())
    size = " big" if big else ""
    return (f'<span class="badge{size}" style="background:{verdict_color(verdict)}">'
            f'{text}</span>')


def expectation_html(variant: dict) -> str:
    ok, text = expectation(variant)
    if not text:
        return ""
    if ok is None:
        return f'<span class="undecided">{escape(text)}</span>'
    mark, css = ("&#10003;", "ok") if ok else ("&#10007;", "bad")
    return f'<span class="{css}">{mark} {escape(text)}</span>'


def format_value(signal: str, value: float | None, sign: bool = False) -> str:
    """A signal's value for a person: counts as integers, RSS in MiB."""
    if value is None:
        return "-"
    if signal == "rss":
        return f"{value / 2**20:+.1f} MiB" if sign else f"{value / 2**20:.1f} MiB"
    return f"{value:+.0f}" if sign else f"{value:.0f}"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def render_html(results: dict, outcomes, figures: dict[str, dict[str, Path]]) -> str:
    sections = [_header(results), _gate_section(outcomes), _overview(results)]
    for group, functions in results["groups"].items():
        sections.append(_pair_section(group, functions, results, figures.get(group, {})))
    sections.append(_footer(results))
    title = f"heartbench report {results['run_id']}"
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(sections) + "\n</main>\n</body>\n</html>\n")


def _header(results: dict) -> str:
    run = results["run"]
    machine, git, config = run.get("machine", {}), run.get("git", {}), run.get("config", {})
    variants = results["variants"].values()
    invocations = sum(v["invocations"] for v in variants)
    commit = (git.get("commit") or "?")[:12] + (" (dirty)" if git.get("dirty") else "")
    memory = machine.get("memory_bytes")
    load = _load_text(config)
    facts = [
        f"run <b>{escape(results['run_id'])}</b>",
        f"started {escape(str(run.get('started_utc')))}",
        f"{run.get('duration_s', 0):.0f} s of load, {invocations} invocations, "
        f"{len(results['variants'])} functions",
        f"machine {escape(str(machine.get('hostname', '?')))} "
        f"({machine.get('cpu_count', '?')} CPUs"
        + (f", {memory / 2**30:.0f} GiB)" if isinstance(memory, (int, float)) else ")"),
        f"commit {escape(commit)}",
        f"heartbench {escape(results.get('tool_version') or '?')}",
    ]
    load_line = f'<p class="sub">load: {escape(load)}</p>' if load else ""
    return (f"<header><h1>heartbench: leaky vs fixed</h1>"
            f'<p class="sub">{" &middot; ".join(facts)}</p>{load_line}</header>')


def _load_text(config: dict) -> str:
    parts = []
    if "users" in config:
        parts.append(f"{config['users']} users")
    if "spawn_rate" in config:
        parts.append(f"spawn rate {config['spawn_rate']}/s")
    if "run_time_s" in config:
        parts.append(f"{config['run_time_s']} s")
    if "target" in config:
        parts.append(f"target {config['target']}")
    if config.get("no_freeze"):
        parts.append("no freeze")
    return ", ".join(parts)


def _gate_section(outcomes) -> str:
    failed = [o for o in outcomes if not o.passed]
    if not failed:
        return (f'<section class="gate pass"><h2>Gate passed: all {len(outcomes)} checks</h2>'
                f'<p class="sub">Every fixed variant is free of leaks and every leaky variant '
                f"is detected.</p></section>")
    items = "".join(f"<li>{escape(o.message)}</li>" for o in failed)
    return (f'<section class="gate fail"><h2>Gate failed: {len(failed)} of {len(outcomes)} '
            f"checks</h2><ul>{items}</ul></section>")


def _what_differs(group_variants: list[dict]) -> str:
    parts = []
    for v in group_variants:
        leaks = [f"{SIGNAL_TITLES[name]} {gate.describe_slope(s)}"
                 for name, s in v["signals"].items() if s["verdict"] == "leak"]
        if leaks:
            parts.append(f"<b>{escape(v['function'])}</b>: " + escape("; ".join(leaks)))
        errors = v["metrics"].get("error_rate")
        if errors and errors >= NOTABLE_ERROR_RATE:
            parts.append(f"<b>{escape(v['function'])}</b>: {errors:.1%} of invocations failed")
    if not any(v["invocations"] for v in group_variants):
        return "no invocations recorded"
    return "<br>".join(parts) or "nothing leaks"


def _overview(results: dict) -> str:
    rows = []
    for group, functions in results["groups"].items():
        variants = [results["variants"][f] for f in functions]
        cells = " ".join(
            f'<div>{escape(v["function"])} {badge(v["verdict"])} {expectation_html(v)}</div>'
            for v in variants)
        rows.append(f'<tr><td><a href="#pair-{escape(group)}"><b>{escape(group)}</b></a></td>'
                    f"<td>{cells}</td><td>{_what_differs(variants)}</td></tr>")
    return ("<section><h2>At a glance</h2><table><tr><th>pair</th><th>verdicts</th>"
            "<th>what tells them apart (95% confidence intervals)</th></tr>" + "".join(rows)
            + "</table></section>")


def _card(v: dict) -> str:
    m = v["metrics"]
    latency = ("" if m.get("p50_ms") is None
               else f" &middot; latency p50 {m['p50_ms']:.0f} ms, p99 {m['p99_ms']:.0f} ms")
    errors = ", ".join(f"{escape(k)} &times;{n}" for k, n in v["error_types"].items())
    facts = (f"{v['invocations']} invocations in {v['environments']} environments, "
             f"{v['cold_starts']} cold starts{latency}<br>{v['errors']} errors"
             + (f" ({errors})" if errors else "") + f", {v['throttled']} throttled")
    return (f'<div class="card"><h3>{escape(v["function"])}</h3>'
            f"{badge(v['verdict'], big=True)} {expectation_html(v)}"
            f"<p>{escape(v['reason'])}</p><p class=\"facts\">{facts}</p></div>")


def _pair_section(group: str, functions: list[str], results: dict,
                  figures: dict[str, Path]) -> str:
    variants = [results["variants"][f] for f in functions]
    parts = [f'<section class="pair" id="pair-{escape(group)}"><h2>{escape(group)}</h2>',
             '<div class="cards">' + "".join(_card(v) for v in variants) + "</div>"]
    if "invocations" in figures:
        parts.append(f"<figure>{_img(figures['invocations'], f'{group}: resources per invocation')}"
                     "<figcaption>One line per execution environment, against the number of "
                     "invocations it has served; circles mark cold starts, dotted lines a reset "
                     "(the runtime restarted after a timeout or crash). Rows share their y axis."
                     "</figcaption></figure>")
    parts.append("<h3>Initial / peak / increase</h3>" + _initial_peak_table(variants))
    if "time" in figures:
        parts.append(f"<figure>{_img(figures['time'], f'{group}: over time')}"
                     "<figcaption>Solid: telemetry reported by each invocation; dotted: "
                     "psutil samples of the environment process (OS threads and fds, so a "
                     "little above the in-process counts). Latency is client-side, per time "
                     "window.</figcaption></figure>")
    parts.append(_environment_details(variants))
    return "\n".join(parts) + "</section>"


def _initial_peak_table(variants: list[dict]) -> str:
    head = "".join(f'<th colspan="4">{escape(v["function"])}</th>' for v in variants)
    sub = "".join('<th class="num">initial</th><th class="num">peak</th>'
                  '<th class="num">increase</th><th>trend</th>' for _ in variants)
    rows = []
    for name in verdicts.SIGNALS:
        cells = []
        for v in variants:
            s = v["signals"][name]
            cells.append(f'<td class="num">{format_value(name, s.get("initial"))}</td>'
                         f'<td class="num">{format_value(name, s.get("peak"))}</td>'
                         f'<td class="num">{format_value(name, s.get("increase"), sign=True)}</td>'
                         f"<td>{badge(s['verdict'])} {escape(_slope_text(s))}"
                         f'<div class="why">{escape(s.get("reason") or "")}</div></td>')
        rows.append(f"<tr><th>{SIGNAL_TITLES[name]}</th>{''.join(cells)}</tr>")
    return (f"<table><tr><th></th>{head}</tr><tr><th>signal</th>{sub}</tr>"
            + "".join(rows) + "</table>")


def _slope_text(signal: dict) -> str:
    return "" if signal.get("slope") is None else gate.describe_slope(signal)


def _environment_details(variants: list[dict]) -> str:
    rows = []
    for v in variants:
        for env_id, per_signal in v["environment_verdicts"].items():
            cells = "".join(f"<td>{badge(per_signal[s]['verdict'])} "
                            f"{escape(_slope_text(per_signal[s]))}</td>"
                            for s in verdicts.SIGNALS if s in per_signal)
            rows.append(f"<tr><td>{escape(v['function'])}</td>"
                        f"<td><code>{escape(env_id)}</code></td>{cells}</tr>")
    head = "".join(f"<th>{SIGNAL_TITLES[s]}</th>" for s in verdicts.SIGNALS)
    return (f"<details><summary>Verdicts per environment ({len(rows)})</summary><table>"
            f"<tr><th>function</th><th>environment</th>{head}</tr>{''.join(rows)}</table>"
            "</details>")


def _footer(results: dict) -> str:
    floors = ", ".join(f"{SIGNAL_TITLES[s]} {verdicts.SLOPE_FLOORS[s]:g} {verdicts.RATE_UNITS[s]}"
                       for s in verdicts.SIGNALS)
    notes = "".join(f"<li>{escape(n)}</li>" for n in results.get("notes", []))
    notes_html = f"<p><b>Notes</b></p><ul>{notes}</ul>" if notes else ""
    return (f"<footer>{notes_html}<p><b>How the verdicts are made.</b> Each environment's series "
            "(a reset starts a new one) loses its warm-up, is reduced to windowed floors, and "
            "is tested with the Mann-Kendall trend test corrected for autocorrelation "
            "(Hamed &amp; Rao), with a Theil-Sen slope and its 95% interval; environments are "
            "pooled with the seasonal Kendall method. Growth that levels off is not a leak. "
            f"A leak must clear the effect-size floors: {escape(floors)}.</p>"
            f"<p>Generated {escape(results.get('generated_utc', ''))} by heartbench "
            f"{escape(results.get('tool_version') or '')}.</p></footer>")
