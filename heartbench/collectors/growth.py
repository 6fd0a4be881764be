"""Initial / peak / increase of the in-band telemetry, per function, updated row by row.

Used live (the web UI tab) and at the end of a headless run (the table printed after the stress
test). "initial" is the median over the function's environments of the first value each reported
(the same definition as the report's table), "peak" the highest value, "last" the most recent;
"increase" is peak - initial. Each environment reports its own process, so the peak is the worst
environment.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

# row key, column title, scale applied for display, decimals
METRICS = (
    ("threads", "threads", 1, 0),
    ("tasks", "tasks", 1, 0),
    ("rss_bytes", "RSS MiB", 1 / 2**20, 1),
    ("fds", "fds", 1, 0),
)


class _Track:
    __slots__ = ("firsts", "peak", "last")

    def __init__(self):
        self.firsts: dict = {}
        self.peak = self.last = None

    def add(self, value, env_id=None) -> None:
        if value is None:
            return
        self.firsts.setdefault(env_id, value)
        self.peak = value if self.peak is None else max(self.peak, value)
        self.last = value

    @property
    def initial(self):
        return statistics.median(self.firsts.values()) if self.firsts else None

    def as_dict(self) -> dict:
        initial = self.initial
        return {"initial": initial, "peak": self.peak, "last": self.last,
                "increase": None if initial is None else self.peak - initial}



class GrowthTable:
    """Accumulates invocation rows; `rows()` gives one summary per function in catalog order."""

    def __init__(self, functions: Iterable[dict] = ()):
        self._meta: dict[str, dict] = {}
        self._counts: dict[str, dict] = {}
        self._tracks: dict[str, dict[str, _Track]] = {}
        self._envs: dict[str, set] = {}
        for f in functions:
            self._ensure(f["function"], f.get("pair"), f.get("variant"))

    def _ensure(self, function: str, pair, variant) -> None:
        if function not in self._meta:
            self._meta[function] = {"function": function, "pair": pair, "variant": variant}
            self._counts[function] = {"invocations": 0, "errors": 0, "throttled": 0}
            self._tracks[function] = {key: _Track() for key, *_ in METRICS}
            self._envs[function] = set()

    def add(self, row: dict) -> None:
        function = row["function"]
        self._ensure(function, row.get("pair"), row.get("variant"))
        counts = self._counts[function]
        counts["invocations"] += 1
        if row.get("status") == "error":
            counts["errors"] += 1
        elif row.get("status") == "throttled":
            counts["throttled"] += 1
        if row.get("env_id"):
            self._envs[function].add(row["env_id"])
        for key, track in self._tracks[function].items():
            track.add(row.get(key), row.get("env_id"))

    def add_all(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.add(row)

    def rows(self) -> list[dict]:
        return [{**self._meta[f], **self._counts[f], "environments": len(self._envs[f]),
                 **{key: track.as_dict() for key, track in self._tracks[f].items()}}
                for f in self._meta]

    def format(self) -> str:
        """A plain-text table: per function, initial / peak / +increase of each metric."""
        header = ["function", "variant", "invocations", "envs"]
        header += [title for _, title, *_ in METRICS]
        lines = [header]
        for row in self.rows():
            cells = [row["function"], row["variant"] or "-", str(row["invocations"]),
                     str(row["environments"])]
            for key, _, scale, decimals in METRICS:
                cells.append(_cell(row[key], scale, decimals))
            lines.append(cells)
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                          for i, (c, w) in enumerate(zip(line, widths))) for line in lines]
        text.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(text) + "\n(each metric: initial / peak / +increase)"


def _cell(track: dict, scale: float, decimals: int) -> str:
    if track["initial"] is None:
        return "-"
    fmt = f"{{:.{decimals}f}}"
    initial, peak = track["initial"] * scale, track["peak"] * scale
    return f"{fmt.format(initial)} / {fmt.format(peak)} / +{fmt.format(peak - initial)}"
