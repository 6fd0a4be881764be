"""Read a heartbench run directory (docs/design.md, schema_version 1) for analysis.

`load_run(path)` returns a `RunDir`: the parsed `run.json`, the rows of `invocations.jsonl` and
`samples.jsonl`, and notes about anything tolerated on the way (a truncated last line left by an
interrupted run). Anything else that is wrong raises `RunDirError` with one line naming the file,
the line and the problem; the command line turns it into an error message and exit code 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SCHEMA_VERSION = 1
VARIANTS = ("leaky", "fixed")


class RunDirError(ValueError):
    """A run directory that cannot be read: one line naming the file and the problem."""


@dataclass(frozen=True)
class FunctionInfo:
    """One function of a run and the leaky/fixed pair it belongs to (None when not paired)."""

    function: str
    pair: str | None
    variant: str | None

    @property
    def group(self) -> str:
        """The name the report groups this function under: its pair, else its own name."""
        return self.pair or self.function


@dataclass(frozen=True)
class RunDir:
    path: Path
    run: dict
    invocations: list[dict]
    samples: list[dict]
    notes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.run.get("run_id") or self.path.name)

    @property
    def start_s(self) -> float:
        """Time zero for plots: the first recorded event (UTC epoch seconds)."""
        times = [r["t_s"] for r in self.invocations + self.samples]
        return min(times) if times else 0.0

    def functions(self) -> list[FunctionInfo]:
        """Functions listed in run.json, then any others that appear only in the data."""
        seen: dict[str, FunctionInfo] = {}
        for entry in self.run.get("functions") or []:
            info = FunctionInfo(entry["function"], entry.get("pair"), entry.get("variant"))
            seen[info.function] = info
        for row in self.invocations:
            if row["function"] not in seen:
                seen[row["function"]] = FunctionInfo(row["function"], row.get("pair"),
                                                     row.get("variant"))
        return list(seen.values())

    def groups(self) -> dict[str, list[FunctionInfo]]:
        """Functions grouped by pair, leaky before fixed, in run.json order."""
        groups: dict[str, list[FunctionInfo]] = {}
        for info in self.functions():
            groups.setdefault(info.group, []).append(info)
        order = {v: i for i, v in enumerate(VARIANTS)}
        for members in groups.values():
            members.sort(key=lambda f: order.get(f.variant, len(order)))
        return groups

    def invocations_of(self, function: str) -> list[dict]:
        return [r for r in self.invocations if r["function"] == function]

    def samples_of(self, function: str) -> list[dict]:
        return [r for r in self.samples if r["function"] == function]


def load_run(path: str | Path) -> RunDir:
    """Read the run directory at `path`; raises RunDirError naming what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run directory")
    run = _read_run_json(path / "run.json")
    notes: list[str] = []
    if run.get("interrupted"):
        notes.append("the run was interrupted before its planned end: the verdicts rest on what was "
                     "recorded until then")
    elif run.get("ended_utc") is None:
        notes.append("run.json has no end time: the run is still going, or its process was killed")
    invocations_path = path / "invocations.jsonl"
    if not invocations_path.is_file():
        raise RunDirError(f"{invocations_path}: missing (every run directory has one)")
    invocations = read_jsonl(invocations_path, notes, required=("t_s", "function"))
    samples_path = path / "samples.jsonl"
    samples = (read_jsonl(samples_path, notes, required=("t_s", "function", "env_id"))
               if samples_path.is_file() else [])
    invocations.sort(key=lambda r: r["t_s"])
    samples.sort(key=lambda r: r["t_s"])
    return RunDir(path=path, run=run, invocations=invocations, samples=samples, notes=notes)


def _read_run_json(path: Path) -> dict:
    if not path.is_file():
        raise RunDirError(f"{path.parent}: not a heartbench run directory (no run.json)")
    try:
        run = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunDirError(f"{path}: cannot read: {_one_line(e)}") from None
    if not isinstance(run, dict):
        raise RunDirError(f"{path}: expected a JSON object, found {type(run).__name__}")
    version = run.get("schema_version")
    if version != SUPPORTED_SCHEMA_VERSION:
        raise RunDirError(f"{path}: schema_version {version!r} is not supported "
                          f"(this heartbench reads {SUPPORTED_SCHEMA_VERSION})")
    return run


def read_jsonl(path: Path, notes: list[str], required: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a JSON-lines file. A broken last line (an interrupted run) is dropped and noted;
    a broken line anywhere else raises RunDirError naming the line."""
    try:
        lines = path.read_text().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path}: cannot read: {_one_line(e)}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if number == len(lines):
                notes.append(f"{path.name}: ignored a truncated last line {number} "
                             f"(interrupted run)")
                break
            raise RunDirError(f"{path}: line {number}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise RunDirError(f"{path}: line {number}: expected a JSON object, "
                              f"found {type(row).__name__}")
        missing = [key for key in required if row.get(key) is None]
        if missing:
            raise RunDirError(f"{path}: line {number}: missing {', '.join(missing)}")
        if "t_s" in row and not isinstance(row["t_s"], (int, float)):
            raise RunDirError(f"{path}: line {number}: t_s must be a number, "
                              f"found {row['t_s']!r}")
        rows.append(row)
    return rows


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
