"""Figures of a run, one pair at a time: the leaky and the fixed variant side by side on shared axes.

Two figures per pair:
- `<pair>-invocations.png`: threads, asyncio tasks, RSS and fds against the invocation count of
  each environment (one line per environment, cold starts circled, resets marked);
- `<pair>-time.png`: the same signals against time since the start of the run, then latency
  p50/p99 and the error rate over time.

Matplotlib's object API with the Agg canvas: no pyplot, no global state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from analysis.results import ERROR_RATE_MARGIN
from analysis.rundir import FunctionInfo, RunDir

MIB = 1024 * 1024
DPI = 100
VERDICT_COLORS = {"leak": "#c62828", "no-leak": "#2e7d32", "inconclusive": "#ef6c00"}
NEUTRAL_COLOR = "#546e7a"
MAX_LEGEND_ENVIRONMENTS = 6    # more environments than this: one summary legend entry
ENV_COLORS = ("#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
              "#bcbd22", "#2ca02c", "#d62728")


@dataclass(frozen=True)
class Signal:
    name: str          # verdict signal name
    key: str           # column in invocations.jsonl
    label: str         # y axis label, with unit
    scale: float       # divide raw values by this for plotting
    min_span: float    # the y axis covers at least this much, so noise does not fill a panel

    @property
    def is_count(self) -> bool:
        return self.scale == 1.0


SIGNALS = (
    Signal("threads", "threads", "threads (count)", 1.0, 4.0),
    Signal("tasks", "tasks", "pending asyncio tasks (count)", 1.0, 4.0),
    Signal("rss", "rss_bytes", "RSS (MiB)", MIB, 2.0),
    Signal("fds", "fds", "open file descriptors (count)", 1.0, 4.0),
)
SAMPLE_KEYS = {"threads": "threads", "rss": "rss_bytes", "fds": "fds"}


def verdict_color(verdict: str | None) -> str:
    return VERDICT_COLORS.get(verdict or "", NEUTRAL_COLOR)


def write_figures(run: RunDir, results: dict, out_dir: Path) -> dict[str, dict[str, Path]]:
    """Render every pair's figures into out_dir; returns {group: {"invocations": path, "time": path}}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for group, members in run.groups().items():
        paths = {}
        for kind, render in (("invocations", invocations_figure), ("time", time_figure)):
            fig = render(run, results, group, members)
            paths[kind] = out_dir / f"{safe_name(group)}-{kind}.png"
            fig.savefig(paths[kind], dpi=DPI)
        written[group] = paths
    return written


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _new_figure(nrows: int, ncols: int, row_height_in: float) -> tuple[Figure, np.ndarray]:
    """A grid with fixed margins in inches (faster than a layout engine, and it never moves)."""
    top_in, bottom_in, left_in, right_in = 1.05, 0.6, 0.95, 0.25
    width_in = 6.5 * ncols + left_in + right_in
    height_in = row_height_in * nrows + top_in + bottom_in
    fig = Figure(figsize=(width_in, height_in))
    fig.subplots_adjust(left=left_in / width_in, right=1 - right_in / width_in,
                        bottom=bottom_in / height_in, top=1 - top_in / height_in,
                        hspace=0.12, wspace=0.06)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey="row", squeeze=False)
    return fig, axes


def _column_titles(axes: np.ndarray, results: dict, members: list[FunctionInfo]) -> None:
    for col, info in enumerate(members):
        variant = results["variants"].get(info.function, {})
        verdict = variant.get("verdict")
        text = f"{info.function}   {(verdict or 'no data').upper()}"
        color = verdict_color(verdict)
        error_rate = variant.get("metrics", {}).get("error_rate") or 0.0
        if error_rate >= ERROR_RATE_MARGIN:
            text += f", {error_rate:.0%} FAILED"
            color = VERDICT_COLORS["leak"]
        axes[0, col].set_title(text, fontsize=16, fontweight="bold", color=color, loc="left",
                               pad=12)


def _suptitle(fig: Figure, group: str, members: list[FunctionInfo], what: str) -> None:
    names = " vs ".join(m.variant or m.function for m in members)
    fig.suptitle(f"{group}: {names} — {what}", fontsize=20, fontweight="bold", y=0.995,
                 va="top")


def environment_series(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """Rows that ran in an environment, grouped by env_id in order of first appearance."""
    series: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("env_id"):
            series.setdefault(row["env_id"], []).append(row)
    return list(series.items())


def _values(rows: list[dict], key: str, scale: float) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else r[key] / scale for r in rows], dtype=float)


def _annotate_signal(ax, signal_verdict: dict | None) -> None:
    if not signal_verdict:
        return
    verdict = signal_verdict.get("verdict")
    slope = signal_verdict.get("slope")
    text = (verdict or "").upper()
    if slope is not None and not math.isnan(slope):
        text += f"  {slope:+.1f} {signal_verdict.get('unit', '')}"
    ax.text(0.02, 0.95, text, transform=ax.transAxes, va="top", ha="left", fontsize=11,
            fontweight="bold", color="white",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": verdict_color(verdict),
                  "edgecolor": "none"})


def _plot_environments(ax, env_rows: list[tuple[str, list[dict]]], signal: Signal,
                       x_of, label_resets: bool = False) -> bool:
    plotted = False
    for index, (env_id, rows) in enumerate(env_rows):
        color = ENV_COLORS[index % len(ENV_COLORS)]
        x = np.array([x_of(i, r) for i, r in enumerate(rows)], dtype=float)
        y = _values(rows, signal.key, signal.scale)
        if np.all(np.isnan(y)):
            continue
        plotted = True
        ax.plot(x, y, color=color, linewidth=1.8, marker=".", markersize=4,
                label=(f"env {index + 1} ({env_id[:8]}, {len(rows)} inv.)"
                       if len(env_rows) <= MAX_LEGEND_ENVIRONMENTS else None))
        cold = np.array([bool(r.get("cold_start")) for r in rows])
        ax.plot(x[cold], y[cold], linestyle="none", marker="o", markersize=10,
                markerfacecolor="none", markeredgecolor="black", markeredgewidth=1.6)
        for i in np.flatnonzero(cold)[(np.flatnonzero(cold) > 0)]:
            ax.axvline(x[i], color=color, linestyle=":", linewidth=1.5)
            if label_resets:
                ax.annotate("reset", (x[i], 0.80), xycoords=("data", "axes fraction"),
                            xytext=(4, 0), textcoords="offset points", fontsize=11,
                            color=color, fontweight="bold")
    return plotted


def _scale_y(ax, signal: Signal) -> None:
    """Counts start at zero on integer ticks; every panel spans at least signal.min_span and
    leaves headroom above the data for the verdict badge."""
    low, high = ax.get_ylim()
    if signal.is_count:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        low = 0.0
    if high - low < signal.min_span:
        middle = (low + high) / 2
        low, high = (0.0, signal.min_span) if signal.is_count else \
            (middle - signal.min_span / 2, middle + signal.min_span / 2)
    span = high - low
    ax.set_ylim(low - 0.04 * span, high + 0.25 * span)


def _cold_start_legend(ax, environments: int, with_samples: bool = False) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if environments > MAX_LEGEND_ENVIRONMENTS:
        handles.append(Line2D([], [], color="#757575", linewidth=1.8))
        labels.append(f"{environments} environments, one line each")
    handles.append(Line2D([], [], linestyle="none", marker="o", markersize=10,
                          markerfacecolor="none", markeredgecolor="black", markeredgewidth=1.6))
    labels.append("cold start")
    if with_samples:
        handles.append(Line2D([], [], color="black", linestyle=":", linewidth=1.3))
        labels.append("psutil samples")
    ax.legend(handles, labels, loc="best", fontsize=9, framealpha=0.9)


def invocations_figure(run: RunDir, results: dict, group: str,
                       members: list[FunctionInfo]) -> Figure:
    fig, axes = _new_figure(len(SIGNALS), len(members), 2.6)
    for col, info in enumerate(members):
        env_rows = environment_series(run.invocations_of(info.function))
        verdicts = results["variants"].get(info.function, {}).get("signals", {})
        for row, signal in enumerate(SIGNALS):
            ax = axes[row, col]
            if not _plot_environments(ax, env_rows, signal, lambda i, r: i + 1,
                                      label_resets=row == 0):
                _no_data(ax)
            _annotate_signal(ax, verdicts.get(signal.name))
            ax.grid(True, alpha=0.3)
            if col == 0:
                ax.set_ylabel(signal.label, fontsize=12)
        axes[-1, col].set_xlabel("invocations in the environment (count)", fontsize=12)
        if env_rows:
            _cold_start_legend(axes[0, col], len(env_rows))
    for row, signal in enumerate(SIGNALS):
        _scale_y(axes[row, 0], signal)
    _column_titles(axes, results, members)
    _suptitle(fig, group, members, "resources per invocation, one line per environment")
    return fig


def time_figure(run: RunDir, results: dict, group: str, members: list[FunctionInfo]) -> Figure:
    fig, axes = _new_figure(len(SIGNALS) + 2, len(members), 2.3)
    t0 = run.start_s
    for col, info in enumerate(members):
        rows = run.invocations_of(info.function)
        env_rows = environment_series(rows)
        env_index = {env_id: i for i, (env_id, _) in enumerate(env_rows)}
        samples = run.samples_of(info.function)
        for row, signal in enumerate(SIGNALS):
            ax = axes[row, col]
            plotted = _plot_environments(ax, env_rows, signal, lambda i, r: r["t_s"] - t0,
                                         label_resets=row == 0)
            plotted |= _plot_samples(ax, samples, signal, env_index, t0)
            if not plotted:
                _no_data(ax)
            ax.grid(True, alpha=0.3)
            if col == 0:
                ax.set_ylabel(signal.label, fontsize=12)
        if env_rows:
            _cold_start_legend(axes[0, col], len(env_rows), with_samples=bool(samples))
        _plot_latency(axes[len(SIGNALS), col], rows, t0)
        _plot_errors(axes[len(SIGNALS) + 1, col], rows, t0)
        axes[-1, col].set_xlabel("time since the start of the run (s)", fontsize=12)
    axes[len(SIGNALS), 0].set_ylabel("latency (ms)", fontsize=12)
    axes[len(SIGNALS) + 1, 0].set_ylabel("share of requests (%)", fontsize=12)
    _column_titles(axes, results, members)
    for row, signal in enumerate(SIGNALS):
        _scale_y(axes[row, 0], signal)
    _suptitle(fig, group, members, "over time")
    return fig


def _plot_samples(ax, samples: list[dict], signal: Signal, env_index: dict[str, int],
                  t0: float) -> bool:
    key = SAMPLE_KEYS.get(signal.name)
    if key is None or not samples:
        return False
    by_env: dict[str, list[dict]] = {}
    for sample in samples:
        if sample.get("state") != "STARTING":   # the runtime still loading: not yet comparable
            by_env.setdefault(sample["env_id"], []).append(sample)
    plotted = False
    for env_id, rows in by_env.items():
        index = env_index.setdefault(env_id, len(env_index))
        y = _values(rows, key, signal.scale)
        if np.all(np.isnan(y)):
            continue
        x = np.array([r["t_s"] - t0 for r in rows])
        ax.plot(x, y, color=ENV_COLORS[index % len(ENV_COLORS)], linestyle=":", linewidth=1.3,
                alpha=0.8)
        plotted = True
    return plotted


def time_windows(rows: list[dict], t0: float, target_windows: int = 20) -> list[tuple[float, list[dict]]]:
    """Rows binned into windows of a round width (1, 2, 5, 10, ... s); (window middle, rows)."""
    if not rows:
        return []
    span_s = max(r["t_s"] for r in rows) - t0
    width_s = next((w for w in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
                    if span_s / w <= target_windows), 600)
    bins: dict[int, list[dict]] = {}
    for row in rows:
        bins.setdefault(int((row["t_s"] - t0) // width_s), []).append(row)
    return [((k + 0.5) * width_s, bins[k]) for k in sorted(bins)]


def _plot_latency(ax, rows: list[dict], t0: float) -> None:
    points = []
    for middle_s, window in time_windows(rows, t0):
        latencies = [r["response_time_ms"] for r in window
                     if r.get("status") != "throttled" and r.get("response_time_ms") is not None]
        if latencies:
            points.append((middle_s, np.percentile(latencies, 50), np.percentile(latencies, 99)))
    ax.grid(True, alpha=0.3)
    if not points:
        _no_data(ax)
        return
    x, p50, p99 = (np.array(column) for column in zip(*points))
    ax.plot(x, p50, color="#1f77b4", linewidth=2, marker="o", markersize=4, label="p50")
    ax.plot(x, p99, color="#d62728", linewidth=2, linestyle="--", marker="o", markersize=4,
            label="p99")
    if p99.max() > 30 * max(p50.min(), 1e-9):
        ax.set_yscale("log")
    ax.legend(loc="upper right", fontsize=9)


def _plot_errors(ax, rows: list[dict], t0: float) -> None:
    points = []
    for middle_s, window in time_windows(rows, t0):
        throttled = sum(r.get("status") == "throttled" for r in window)
        errors = sum(r.get("status") == "error" for r in window)
        ran = len(window) - throttled
        points.append((middle_s, 100 * errors / ran if ran else np.nan,
                       100 * throttled / len(window)))
    ax.grid(True, alpha=0.3)
    if not points:
        _no_data(ax)
        return
    x, error_pct, throttle_pct = (np.array(column) for column in zip(*points))
    ax.plot(x, error_pct, color="#c62828", linewidth=2, marker="o", markersize=4,
            label="errors (% of invocations)")
    ax.plot(x, throttle_pct, color="#6a1b9a", linewidth=1.5, linestyle=":", marker="s",
            markersize=3, label="throttled (% of requests)")
    ax.set_ylim(-3, 103)
    ax.legend(loc="upper right", fontsize=9)


def _no_data(ax) -> None:
    ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center",
            fontsize=13, color="#9e9e9e")
