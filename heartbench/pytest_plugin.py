"""pytest plugin: put `heartbench check` in your own test suite.

Marker, checked after the test body passes:

    @pytest.mark.heartbench_no_leak("handlers/ticker.py:handler", invocations=300, concurrency=4)
    def test_ticker_handler():
        ...

Fixture, for your own assertions:

    def test_handler(heartbench_check):
        result = heartbench_check("handlers/ticker.py:handler", invocations=200)
        assert result.verdict.signals["threads"].verdict == "no-leak"

Paths are relative to the test file's directory when they do not exist as given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MARKER = "heartbench_no_leak"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{MARKER}(target, **options): fail the test when `heartbench check` finds a leak "
                   "(options: invocations, concurrency, memory_mb, timeout_s, freeze, event, env, signals)")


def _resolve(target: str, base: Path) -> str:
    path_text, sep, function = target.rpartition(":")
    if sep and not Path(path_text).exists() and (base / path_text).exists():
        return f"{base / path_text}:{function}"
    return target


def _run(target: str, base: Path, **options):
    from heartbench.checker import CheckOptions, run_check
    return run_check(CheckOptions(target=_resolve(target, base), **options))


@pytest.fixture
def heartbench_check(request):
    """Call with (target, **CheckOptions fields); returns a heartbench.checker.CheckResult."""
    base = Path(str(request.node.fspath)).parent

    def check(target: str, **options):
        return _run(target, base, **options)

    return check


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield  # re-raises when the test body failed: then there is nothing more to check
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return result
    if not marker.args:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} needs the target FILE.py:FUNCTION")
    options = dict(marker.kwargs)
    signals = options.pop("signals", None)
    check = _run(marker.args[0], Path(str(item.fspath)).parent, **options)
    verdicts = {name: v for name, v in check.verdict.signals.items() if signals is None or name in signals}
    leaks = [f"{name}: {v.reason}" for name, v in verdicts.items() if v.verdict == "leak"]
    if leaks:
        pytest.fail(f"{marker.args[0]} leaks under the Lambda lifecycle ({len(check.rows)} invocations):\n  "
                    + "\n  ".join(leaks), pytrace=False)
    return result
