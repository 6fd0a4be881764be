"""Unit tests of analysis.verdicts: crafted traps and slow leaks, rows of a run, error messages."""

import json
import subprocess
import sys

import numpy as np
import pytest

from analysis import synthetic, verdicts
from analysis.synthetic import KIB, MIB, ar1_noise
from analysis.verdicts import assess_run, assess_series, assess_variant, initial_peak_increase

X = np.arange(1, 301, dtype=float)


# --- traps: never a leak ------------------------------------------------------------------------

def test_warmup_threads_that_level_off_are_no_leak():
    v = assess_series("threads", X, np.where(X < 10, 2.0, 5.0))
    assert v.verdict == "no-leak"
    assert (v.slope, v.unit, v.n) == (0.0, "threads per 1k invocations", 300)


def test_bounded_cache_that_plateaus_is_no_leak_and_says_so():
    v = assess_series("rss", X, 50 * MIB + np.minimum(X, 150) * 50 * KIB
                      + ar1_noise(np.random.default_rng(1), 300, 0.25 * MIB))
    assert v.verdict == "no-leak"
    assert "levelled off" in v.reason
    assert v.slope > 4.0   # it did grow, faster than the floor, before the plateau


def test_bounded_thread_pool_is_no_leak():
    v = assess_series("threads", X, 2.0 + np.minimum(X, 150) // 15)
    assert v.verdict == "no-leak"
    assert v.reason.startswith("grew by 19.2 threads per 1k invocations overall")


def test_gc_sawtooth_is_no_leak():
    v = assess_series("rss", X, 50 * MIB + (X % 25) * 100 * KIB)
    assert v.verdict == "no-leak"
    assert v.reason == ("no significant growth (p=0.64); the lowest value in each window grows at "
                        "most 2.27 KiB per invocation (90% interval): under the floor of 4 KiB per "
                        "invocation")


def test_ar1_noise_is_not_a_leak():
    v = assess_series("rss", X, 50 * MIB + ar1_noise(np.random.default_rng(4), 300, MIB, phi=0.8))
    assert v.verdict == "inconclusive"   # 1 MiB of persistent noise hides 4 KiB per invocation
    assert v.reason.startswith("no significant growth (p=0.076), and up to 7.09 KiB per invocation")


@pytest.mark.parametrize("scenario", [s for s in synthetic.SCENARIOS if not s.leak], ids=lambda s: s.name)
def test_no_trap_is_called_a_leak_over_many_seeds(scenario):
    for seed in range(25):
        rng = np.random.default_rng([21, seed])
        if scenario.kind == "rows":
            verdict = assess_variant(scenario.make(rng, 300)).signals[scenario.signal].verdict
        else:
            verdict = assess_series(scenario.signal, *scenario.make(rng, 300)).verdict
        assert verdict != "leak", f"{scenario.name}, seed {seed}"


# --- slow leaks: caught, with the rate in the interval --------------------------------------------

def test_one_thread_every_40_invocations_is_a_leak_of_25_per_1k():
    v = assess_series("threads", X, 3.0 + X // 40)
    assert v.verdict == "leak"
    assert v.slope_low <= 25.0 <= v.slope_high
    assert v.p_value < 1e-6
    assert v.reason.startswith("grows steadily by 25.3 threads per 1k invocations")


def test_30_kib_per_invocation_on_noisy_50_mib_is_a_leak():
    v = assess_series("rss", X, 50 * MIB + 30 * KIB * X + ar1_noise(np.random.default_rng(4), 300, MIB))
    assert v.verdict == "leak"
    assert v.unit == "KiB per invocation"
    assert v.slope_low <= 30.0 <= v.slope_high


def test_leak_under_a_gc_sawtooth_is_a_leak():
    v = assess_series("rss", X, 50 * MIB + (X % 40) * 150 * KIB + 25 * KIB * X)
    assert v.verdict == "leak"


def test_leak_after_a_large_warmup_is_still_a_leak():
    warmup = 20 * MIB * (1 - np.exp(-X / 30))
    v = assess_series("rss", X, 50 * MIB + warmup + 30 * KIB * X
                      + ar1_noise(np.random.default_rng(4), 300, 0.25 * MIB))
    assert v.verdict == "leak"
    assert v.reason.startswith("growth slowed from 35.5 KiB per invocation to 32.4 KiB per invocation")


@pytest.mark.parametrize("scenario", [s for s in synthetic.SCENARIOS if s.leak], ids=lambda s: s.name)
def test_slow_leaks_are_caught_over_many_seeds(scenario):
    caught = 0
    for seed in range(25):
        rng = np.random.default_rng([22, seed])
        if scenario.kind == "rows":
            caught += assess_variant(scenario.make(rng, 300)).signals[scenario.signal].verdict == "leak"
        else:
            caught += assess_series(scenario.signal, *scenario.make(rng, 300)).verdict == "leak"
    assert caught >= 21, f"{scenario.name}: {caught}/25"


# --- inconclusive -----------------------------------------------------------------------------

def test_too_few_points_is_inconclusive():
    v = assess_series("threads", X[:12], X[:12])
    assert v.verdict == "inconclusive"
    assert (v.slope, v.p_value, v.n) == (None, None, 12)
    assert v.reason == "only 12 invocations with a threads value; at least 20 are needed"


def test_growth_whose_interval_straddles_the_floor_is_inconclusive():
    v = assess_series("rss", X, 50 * MIB + 5 * KIB * X + ar1_noise(np.random.default_rng(1), 300, 0.5 * MIB))
    assert v.verdict == "inconclusive"
    assert v.slope_low < verdicts.SLOPE_FLOORS["rss"] < v.slope_high


def test_min_points_is_a_constant_tests_can_shrink(monkeypatch):
    monkeypatch.setattr(verdicts, "MIN_POINTS", 8)
    monkeypatch.setattr(verdicts, "WARMUP_INVOCATIONS", 0)
    assert assess_series("threads", X[:12], 3.0 + X[:12]).verdict == "leak"


# --- bad input ----------------------------------------------------------------------------------

def test_unknown_signal_is_rejected():
    with pytest.raises(ValueError, match=r"^unknown signal 'heap'; expected one of threads, tasks, rss, fds$"):
        assess_series("heap", X, X)
    with pytest.raises(ValueError, match=r"^unknown signal 'heap'"):
        initial_peak_increase([], "heap")


def test_series_errors_name_the_value():
    with pytest.raises(ValueError, match=r"^x and y differ in length: 300 != 299$"):
        assess_series("rss", X, X[1:])
    with pytest.raises(ValueError, match=r"^y contains a non-finite value at index 1: inf$"):
        assess_series("rss", [1, 2, 3], [1.0, float("inf"), 3.0])


# --- rows of a run: environments, cold starts, pooling ---------------------------------------------

def _row(function, env_id, k, threads, rss_bytes, cold=None, **extra):
    return {"function": function, "pair": "ticker", "variant": extra.pop("variant", "leaky"),
            "status": "ok", "env_id": env_id, "env_invocation": k,
            "cold_start": (k == 1) if cold is None else cold, "threads": threads, "tasks": 0,
            "rss_bytes": rss_bytes, "fds": 9, "t_s": 1_700_000_000.0 + k, **extra}


def _interleave(*envs):
    """Rows of several environments in completion order, as a load test records them."""
    return [row for group in zip(*envs) for row in group]


def test_assess_variant_pools_two_leaking_environments():
    a = [_row("ticker-leaky", "a" * 32, k, 3 + k // 40, 50 * MIB) for k in range(1, 151)]
    b = [_row("ticker-leaky", "b" * 32, k, 4 + (k + 17) // 40, 52 * MIB) for k in range(1, 151)]
    result = assess_variant(_interleave(a, b))
    assert result.verdict == "leak"
    assert result.signals["threads"].verdict == "leak"
    assert result.signals["threads"].n == 300
    assert result.signals["threads"].reason.endswith("(2 environments pooled)")
    assert result.signals["rss"].verdict == "no-leak"
    assert set(result.environments) == {"a" * 32, "b" * 32}
    assert result.environments["a" * 32]["threads"].verdict == "leak"
    assert result.reason.startswith("leaks threads (")
    assert (result.function, result.pair, result.variant, result.invocations) == (
        "ticker-leaky", "ticker", "leaky", 300)


def test_cold_start_resets_are_not_a_leak():
    """Environment A warms up and is then replaced after a crash; its successor warms up again.
    Rows ordered by time show a climb, a reset and a climb; per environment, a plateau."""
    def warm(k):
        return 3 + min(k, 5)
    a = [_row("ticker-fixed", "a" * 32, k, warm(k), 40 * MIB + min(k, 8) * MIB) for k in range(1, 121)]
    c = [_row("ticker-fixed", "c" * 32, k, warm(k), 40 * MIB + min(k, 8) * MIB) for k in range(1, 121)]
    b = [_row("ticker-fixed", "b" * 32, k, warm(k), 40 * MIB + min(k, 8) * MIB) for k in range(1, 241)]
    result = assess_variant(a + _interleave(b[:120], c) + b[120:])
    assert result.verdict == "no-leak"
    assert result.reason == "no signal grows beyond its floor"
    assert {s: v.verdict for s, v in result.signals.items()} == dict.fromkeys(verdicts.SIGNALS, "no-leak")


def test_a_cold_start_inside_an_environment_starts_a_new_series():
    rows = [_row("f", "a" * 32, k, 5, 50 * MIB) for k in range(1, 31)]
    rows += [_row("f", "a" * 32, k, 5, 50 * MIB, cold=(k == 31)) for k in range(31, 61)]
    result = assess_variant(rows)
    assert set(result.environments) == {"a" * 32, "a" * 32 + "#2"}
    assert result.environments["a" * 32 + "#2"]["threads"].n == 30


def test_rows_without_telemetry_and_throttled_rows_are_left_out():
    rows = [_row("f", "a" * 32, k, 5, 50 * MIB) for k in range(1, 41)]
    rows.append({"function": "f", "status": "throttled", "env_id": None, "env_invocation": None})
    rows.append(_row("f", "a" * 32, 41, None, None))
    result = assess_variant(rows)
    assert result.invocations == 41
    assert result.signals["threads"].n == 40


def test_short_environments_are_inconclusive():
    result = assess_variant([_row("f", "a" * 32, k, 5, 50 * MIB) for k in range(1, 11)])
    assert result.verdict == "inconclusive"
    assert result.signals["threads"].reason == (
        "no environment has 20 invocations with a threads value (longest: 10)")
    assert result.reason == "inconclusive on threads, tasks, rss, fds; no leak found"


def test_assess_variant_rejects_bad_rows():
    with pytest.raises(ValueError, match=r"^rows is empty; at least one invocation row is needed$"):
        assess_variant([])
    with pytest.raises(ValueError, match=r"^rows mix functions: f, g$"):
        assess_variant([_row("f", "a" * 32, 1, 5, 1), _row("g", "a" * 32, 1, 5, 1)])
    twice = [_row("f", "a" * 32, 1, 5, 1), _row("f", "a" * 32, 2, 5, 1), _row("f", "a" * 32, 2, 5, 1)]
    with pytest.raises(ValueError, match=rf"^environment {'a' * 32} has env_invocation 2 twice$"):
        assess_variant(twice)


def test_assess_run_and_to_dict_give_the_check_json_shape():
    leaky = [_row("ticker-leaky", "a" * 32, k, 3 + k // 30, 50 * MIB) for k in range(1, 201)]
    fixed = [_row("ticker-fixed", "b" * 32, k, 3, 50 * MIB, variant="fixed") for k in range(1, 201)]
    results = assess_run(_interleave(leaky, fixed))
    assert list(results) == ["ticker-fixed", "ticker-leaky"]
    assert (results["ticker-leaky"].verdict, results["ticker-fixed"].verdict) == ("leak", "no-leak")
    as_json = json.loads(json.dumps(results["ticker-leaky"].to_dict()))
    assert as_json["verdict"] == "leak" and as_json["invocations"] == 200
    assert set(as_json["signals"]) == {"threads", "tasks", "rss", "fds"}
    threads = as_json["signals"]["threads"]
    assert set(threads) == {"signal", "verdict", "slope", "slope_low", "slope_high", "unit",
                            "p_value", "n", "reason"}
    assert threads["unit"] == "threads per 1k invocations"
    assert as_json["environments"]["a" * 32]["threads"]["verdict"] == "leak"


def test_initial_peak_increase_per_function():
    rows = [_row("f", "a" * 32, k, 3 + k // 10, 40 * MIB) for k in range(1, 31)]
    rows += [_row("f", "b" * 32, k, 5, 60 * MIB) for k in range(1, 31)]
    rows += [_row("g", "c" * 32, k, None, 10 * MIB) for k in range(1, 31)]
    threads = initial_peak_increase(rows, "threads")
    assert threads["f"] == {"initial": 4.0, "peak": 6.0, "increase": 2.0, "unit": "threads"}
    assert threads["g"] == {"initial": None, "peak": None, "increase": None, "unit": "threads"}
    rss = initial_peak_increase(rows, "rss")
    assert rss["g"] == {"initial": 10 * MIB, "peak": 10 * MIB, "increase": 0.0, "unit": "bytes"}


def test_analysis_never_imports_the_emulator_or_locust():
    code = ("import sys, analysis.verdicts, analysis.synthetic; "
            "print(sorted(m for m in sys.modules if m.startswith(('locust', 'heartbench.emulator', 'gevent'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_thread_staircase_that_sits_on_a_step_is_not_called_levelled_off():
    """80 invocations of one thread per 40: the last part may show no new thread yet; that is
    not a plateau."""
    x = X[:80]
    v = assess_series("threads", x, 3.0 + x // 40)
    assert v.verdict == "inconclusive"
    assert v.reason.startswith("no significant growth (p=0.03), and up to 29.4 threads per 1k")


def test_bounded_cache_in_four_short_environments_is_no_leak():
    """A cache of 50 entries of 64 KiB in each of four environments of 75 invocations."""
    rng = np.random.default_rng(6)
    rows = []
    for env in "abcd":
        rows += [_row("cache", env * 32, k, 5, int(48 * MIB + 64 * KIB * min(k, 50) + rng.integers(0, 3) * 4096))
                 for k in range(1, 76)]
    rss = assess_variant(rows).signals["rss"]
    assert rss.verdict == "no-leak"
    assert "levelled off" in rss.reason and rss.reason.endswith("(4 environments pooled)")


def _oom_rows(step_bytes: float, kills: int, start_bytes: float = 50 * MIB) -> list[dict]:
    """Three short environment lifetimes (12 invocations) of one function with 256 MB, then kills."""
    rows = []
    for e, env_id in enumerate("abc"):
        for k in range(1, 13):
            rows.append(_row("f", env_id * 32, k, 1, start_bytes + step_bytes * k, memory_size_mb=256,
                             t_s=e * 100 + k))
    rows += [{"function": "f", "status": "error", "error_type": "Runtime.OutOfMemory", "env_id": None,
              "env_invocation": None, "memory_size_mb": 256, "t_s": 400 + i} for i in range(kills)]
    return rows


def test_environments_killed_for_memory_after_a_steady_climb_leak():
    v = assess_variant(_oom_rows(10 * MIB, kills=3)).signals["rss"]
    assert v.verdict == "leak"
    assert v.reason.startswith("3 environments climbed steadily to as much as 170 MiB of the 256 MB "
                               "memory size, and 3 invocations were killed for memory (Runtime.OutOfMemory)")
    assert 10 * 1024 - 1 <= v.slope <= 10 * 1024 + 1   # KiB per invocation


def test_short_climbing_environments_without_kills_stay_inconclusive():
    assert assess_variant(_oom_rows(10 * MIB, kills=0)).signals["rss"].verdict == "inconclusive"


def test_kills_without_a_climb_are_not_a_leak():
    # RSS flat near the limit, then bursts that overshoot it: killed, but nothing leaked
    assert assess_variant(_oom_rows(0.0, kills=3, start_bytes=200 * MIB)).signals["rss"].verdict != "leak"
