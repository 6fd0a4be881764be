"""`heartbench report` on the recorded run directory (tests/data/recorded_run, made by
tests/data/make_recorded_run.py): every product, a self-contained HTML page, results.json shape,
refusal to overwrite, tolerance of an interrupted run, and the page rendered in headless Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from heartbench.cli import main

RECORDED = Path(__file__).parent / "data" / "recorded_run"
PAIRS = ("ticker", "deadline", "asyncio", "client", "conditional-write")
FUNCTIONS = [f"{p}-{v}" for p in PAIRS for v in ("leaky", "fixed")]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def copy_run(tmp_path: Path, name: str = "run") -> Path:
    return Path(shutil.copytree(RECORDED, tmp_path / name))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One report (figures take seconds) of a copy of the recorded run that was interrupted
    mid-line, written with --out over an earlier report in that directory, with --force."""
    base = tmp_path_factory.mktemp("report")
    run_dir = copy_run(base)
    with (run_dir / "invocations.jsonl").open("a") as f:
        f.write('{"t_s": 1733320890.1, "function": "ticker-le')     # cut short by Ctrl-C
    out = base / "out"
    out.mkdir()
    (out / "report.html").write_text("an earlier report")
    assert main(["report", str(run_dir), "--out", str(out), "--force"]) == 0
    return run_dir, out


def test_report_writes_every_product_into_out_and_leaves_the_run_alone(report):
    run_dir, out = report
    for name in ("report.html", "summary.md", "results.json", "junit.xml"):
        assert (out / name).stat().st_size > 0, name
        assert not (run_dir / name).exists(), name
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == sorted(f"{p}-{kind}.png" for p in PAIRS for kind in ("invocations", "time"))
    for path in (out / "figures").iterdir():
        assert path.read_bytes().startswith(PNG_SIGNATURE), path


def test_report_tolerates_the_truncated_last_line_of_an_interrupted_run(report):
    results = json.loads((report[1] / "results.json").read_text())
    assert results["notes"] == [
        "invocations.jsonl: ignored a truncated last line 1001 (interrupted run)"]
    assert "ignored a truncated last line 1001" in (report[1] / "report.html").read_text()


def test_report_html_is_self_contained_with_two_figures_per_pair(report):
    html = (report[1] / "report.html").read_text()
    assert "<link" not in html and "<script" not in html and "@import" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert not re.search(r"url\(", html)
    sources = re.findall(r'<img src="([^"]+)" alt="([^"]+)"', html)
    assert len(sources) == 2 * len(PAIRS)
    for src, alt in sources:
        assert src.startswith("data:image/png;base64,"), alt
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_SIGNATURE)
    alts = {alt for _, alt in sources}
    for pair in PAIRS:
        assert f"{pair}: resources per invocation" in alts
        assert f"{pair}: over time" in alts
        assert f'id="pair-{pair}"' in html
    assert "Gate passed: all 20 checks" in html


def test_results_json_has_a_verdict_per_variant_and_signal(report):
    results = json.loads((report[1] / "results.json").read_text())
    assert results["schema_version"] == 1 and results["kind"] == "heartbench-results"
    assert results["run_id"] == "20241204T140000Z"
    assert results["groups"] == {p: [f"{p}-leaky", f"{p}-fixed"] for p in PAIRS}
    assert list(results["variants"]) == FUNCTIONS
    for name, variant in results["variants"].items():
        assert set(variant["signals"]) == {"threads", "tasks", "rss", "fds"}, name
        for signal in variant["signals"].values():
            assert signal["verdict"] in ("leak", "no-leak", "inconclusive")
            assert {"slope", "slope_low", "slope_high", "unit", "initial", "peak",
                    "increase"} <= set(signal)
        assert set(variant["metrics"]) == {"threads_slope", "tasks_slope", "rss_slope",
                                           "fds_slope", "p50_ms", "p99_ms", "error_rate",
                                           "throttle_rate"}
    variants = results["variants"]
    assert [variants[f"{p}-fixed"]["verdict"] for p in PAIRS] == ["no-leak"] * 5
    assert variants["ticker-leaky"]["signals"]["threads"]["verdict"] == "leak"
    assert variants["ticker-leaky"]["signals"]["threads"]["unit"] == "threads per 1k invocations"
    assert variants["ticker-leaky"]["throttled"] == 4
    assert variants["asyncio-leaky"]["signals"]["tasks"]["verdict"] == "leak"
    assert variants["client-leaky"]["signals"]["rss"]["verdict"] == "leak"
    assert variants["conditional-write-leaky"]["detected_by"] == "errors"
    assert variants["conditional-write-leaky"]["error_types"] == {
        "ConditionalCheckFailedException": 66}
    # the timeout in deadline-leaky reset one environment: its second lifetime is fitted apart
    deadline = variants["deadline-leaky"]
    assert deadline["error_types"] == {"Sandbox.Timedout": 1}
    assert deadline["environments"] == 2 and deadline["cold_starts"] == 3
    assert [env for env in deadline["environment_verdicts"] if "#" in env] == [
        "9a91b70661d7955a0cad153c32cbc046#2"]


def test_junit_and_summary_report_the_gate_checks(report):
    suites = ET.parse(report[1] / "junit.xml").getroot()
    cases = suites.findall("./testsuite/testcase")
    assert len(cases) == 20 and suites.get("failures") == "0"
    assert {c.get("classname") for c in cases} == set(FUNCTIONS)
    summary = (report[1] / "summary.md").read_text()
    assert summary.startswith("# heartbench report: run 20241204T140000Z\n")
    assert "Gate: **passed**, all 20 checks." in summary
    assert "| ticker | ticker-leaky | **leak** as expected | leak (+1000.0 threads/1k inv) |" \
        in summary


def test_report_refuses_to_overwrite_without_force(tmp_path, capsys):
    run_dir = copy_run(tmp_path)
    (run_dir / "summary.md").write_text("an earlier summary")
    assert main(["report", str(run_dir)]) == 2
    assert capsys.readouterr().err == (f"heartbench report: error: {run_dir}/summary.md already "
                                       f"exists; use --force to overwrite\n")
    assert (run_dir / "summary.md").read_text() == "an earlier summary"
    assert not (run_dir / "report.html").exists() and not (run_dir / "figures").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "run.json").unlink(), "{d}: not a heartbench run directory (no run.json)"),
    (lambda d: (d / "invocations.jsonl").write_text('{"t_s": 1, "function": "f"}\nnot json\n{}\n'),
     "{d}/invocations.jsonl: line 2: not valid JSON (Expecting value)"),
    (lambda d: (d / "run.json").write_text('{"schema_version": 2}'),
     "{d}/run.json: schema_version 2 is not supported (this heartbench reads 1)"),
])
def test_report_names_what_is_wrong_with_a_run_directory(tmp_path, capsys, damage, message):
    run_dir = copy_run(tmp_path)
    damage(run_dir)
    assert main(["report", str(run_dir)]) == 2
    assert capsys.readouterr().err == f"heartbench report: error: {message.format(d=run_dir)}\n"


def test_report_of_a_missing_directory_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == f"heartbench report: error: {tmp_path}/nope: no such run directory\n"


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium for the rendering check")
def test_report_renders_in_headless_chromium(report, tmp_path):
    """The page as a person sees it: a tall screenshot with the red and green verdict badges."""
    from PIL import Image

    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1400,2400", (report[1] / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 2400)
    colors = image.getcolors(maxcolors=1 << 20)
    counts = {rgb: n for n, rgb in colors}
    assert counts.get((0xc6, 0x28, 0x28), 0) > 500      # LEAK badges
    assert counts.get((0x2e, 0x7d, 0x32), 0) > 500      # NO-LEAK badges and the gate bar
    background = max(colors)[0] / (1400 * 2400)
    assert background < 0.8                             # a page with content, not a blank one
