"""Unit tests of analysis.stats on crafted series."""

import math

import numpy as np
import pytest
from scipy.stats import theilslopes

from analysis import stats
from analysis.synthetic import ar1_noise


def _x(n):
    return np.arange(1, n + 1, dtype=float)


# --- input checking ----------------------------------------------------------------------------

def test_as_series_rejects_lengths_that_differ():
    with pytest.raises(ValueError, match=r"^x and y differ in length: 3 != 2$"):
        stats.as_series([1, 2, 3], [1, 2])


def test_as_series_rejects_a_non_finite_value_and_names_it():
    with pytest.raises(ValueError, match=r"^y contains a non-finite value at index 2: nan$"):
        stats.as_series([1, 2, 3], [1.0, 2.0, float("nan")])


def test_as_series_rejects_x_that_does_not_increase():
    with pytest.raises(ValueError, match=r"^x is not strictly increasing at index 2: 2.0 after 2.0$"):
        stats.as_series([1, 2, 2], [5, 6, 7])


def test_as_series_rejects_too_few_points():
    with pytest.raises(ValueError, match=r"^series has 2 points; at least 3 are needed$"):
        stats.as_series([1, 2], [1, 2], min_points=3)


@pytest.mark.parametrize("window", [0, -3, 2.5, True])
def test_window_floors_rejects_a_bad_window(window):
    with pytest.raises(ValueError, match=rf"^window must be a positive integer, got {window!r}$"):
        stats.window_floors([1, 2, 3], [1, 2, 3], window)


def test_window_floors_rejects_a_bad_quantile():
    with pytest.raises(ValueError, match=r"^quantile must be between 0 and 1, got 1.5$"):
        stats.window_floors([1, 2, 3], [1, 2, 3], 1, quantile=1.5)


def test_trend_rejects_a_bad_alpha_and_no_blocks():
    with pytest.raises(ValueError, match=r"^alpha must be between 0 and 1, got 0$"):
        stats.trend([(_x(5), _x(5))], alpha=0)
    with pytest.raises(ValueError, match=r"^blocks is empty; at least one series is needed$"):
        stats.trend([])


def test_effect_size_rejects_a_bad_floor_and_interval():
    with pytest.raises(ValueError, match=r"^floor must be finite and > 0, got 0.0$"):
        stats.effect_size(1.0, 2.0, 0.0)
    with pytest.raises(ValueError, match=r"^interval must be finite with low <= high, got \[3.0, 2.0\]$"):
        stats.effect_size(3.0, 2.0, 1.0)


def test_sen_interval_rejects_negative_variance():
    with pytest.raises(ValueError, match=r"^var_s must be finite and >= 0, got -1.0$"):
        stats.sen_interval([1.0, 2.0], -1.0)


# --- windowed floors ---------------------------------------------------------------------------

def test_window_floors_see_through_a_sawtooth_whose_period_fits_the_window():
    x = _x(200)
    sawtooth = 50.0 + 3.0 * (x % 20)          # climbs for 20 invocations, then collected
    fx, fy = stats.window_floors(x, sawtooth, 20)
    assert len(fx) == 10
    assert np.all(fy == fy[0])                 # every window holds one trough
    assert fx[0] == pytest.approx(10.5)        # median invocation of the first window


def test_window_floors_keep_every_point_when_windows_do_not_divide_evenly():
    fx, fy = stats.window_floors(_x(10), 10.0 - _x(10), 3)
    assert list(fx) == [2.5, 6.0, 9.0]         # windows of 4, 3 and 3 points
    assert list(fy) == [6.0, 3.0, 0.0]


def test_window_floors_low_quantile():
    _, fy = stats.window_floors(_x(10), _x(10), 10, quantile=0.5)
    assert fy[0] == pytest.approx(5.5)


# --- Mann-Kendall and Hamed-Rao ------------------------------------------------------------------

def test_mann_kendall_s_and_tie_corrected_variance():
    assert stats.mann_kendall_s([1, 2, 3]) == (3.0, pytest.approx(66 / 18))
    # one tied pair: the tie term is 1 * 0 ... t(t-1)(2t+5) = 2 * 1 * 9 = 18
    assert stats.mann_kendall_s([1, 1, 2]) == (2.0, pytest.approx((66 - 18) / 18))


def test_hamed_rao_factor_is_near_one_for_independent_noise_and_large_for_ar1():
    rng = np.random.default_rng(5)
    x = _x(300)
    independent = stats.hamed_rao_factor(x, rng.normal(size=300), 0.0)
    persistent = stats.hamed_rao_factor(x, ar1_noise(rng, 300, 1.0, phi=0.8), 0.0)
    assert 1.0 <= independent < 1.3
    assert persistent > 3.0


def test_hamed_rao_correction_reduces_false_trends_in_ar1_noise():
    """Plain Mann-Kendall finds a trend in AR(1) noise far more often than its level; the
    correction brings that down a long way (short series stay somewhat liberal)."""
    plain = corrected = 0
    for seed in range(200):
        y = ar1_noise(np.random.default_rng([11, seed]), 60, 1.0, phi=0.8)
        plain += stats.trend([(_x(60), y)], autocorrelation=False).p_value < 0.05
        corrected += stats.trend([(_x(60), y)]).p_value < 0.05
    assert plain / 200 > 0.2
    assert corrected / 200 < 0.7 * plain / 200


def test_mann_kendall_is_calibrated_on_independent_noise():
    hits = sum(
        stats.trend([(_x(40), np.random.default_rng([12, seed]).normal(size=40))]).p_value < 0.05
        for seed in range(300)
    )
    assert 0.02 <= hits / 300 <= 0.09


# --- Theil-Sen and Sen's interval ------------------------------------------------------------------

def test_trend_on_an_exact_line():
    t = stats.trend([(_x(30), 2.0 * _x(30) + 1.0)])
    assert (t.slope, t.slope_low, t.slope_high) == (2.0, 2.0, 2.0)
    assert t.p_value < 1e-6
    assert t.n == 30 and t.blocks == 1


def test_trend_of_a_constant_series_is_zero_with_p_one():
    t = stats.trend([(_x(30), np.full(30, 7.0))])
    assert (t.slope, t.slope_low, t.slope_high, t.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_theil_sen_slope_matches_scipy_and_the_interval_contains_the_truth():
    rng = np.random.default_rng(3)
    x = _x(80)
    y = 0.5 * x + rng.normal(0.0, 5.0, 80)
    t = stats.trend([(x, y)], autocorrelation=False)
    reference = theilslopes(y, x, alpha=0.95)
    assert t.slope == pytest.approx(reference.slope)
    assert t.slope_low == pytest.approx(reference.low_slope, rel=0.05)
    assert t.slope_high == pytest.approx(reference.high_slope, rel=0.05)
    assert t.slope_low < 0.5 < t.slope_high


def test_a_decreasing_series_has_a_high_one_sided_p_value():
    t = stats.trend([(_x(30), -_x(30))])
    assert t.p_value > 0.999 and t.slope == -1.0


# --- Seasonal Kendall: blocks are never compared with each other ---------------------------------

def test_seasonal_kendall_never_pairs_points_across_blocks():
    """Two flat environments, the second at a higher level: concatenated they look like growth,
    pooled as blocks they show none (what a cold start between them must not create)."""
    first, second = (_x(30), np.full(30, 10.0)), (_x(30) + 30, np.full(30, 20.0))
    pooled = stats.trend([first, second])
    concatenated = stats.trend([(np.concatenate([first[0], second[0]]),
                                 np.concatenate([first[1], second[1]]))])
    assert pooled.s == 0.0 and pooled.slope == 0.0 and pooled.p_value == 1.0
    assert concatenated.p_value < 0.05


def test_seasonal_kendall_adds_the_evidence_of_blocks():
    rng = np.random.default_rng(8)
    blocks = [(_x(25), 0.1 * _x(25) + rng.normal(0, 1.0, 25)) for _ in range(3)]
    single = stats.trend(blocks[:1])
    pooled = stats.trend(blocks)
    assert pooled.blocks == 3 and pooled.n == 75
    assert pooled.p_value < single.p_value
    assert pooled.slope_high - pooled.slope_low < single.slope_high - single.slope_low


# --- effect size, plateau, noise ----------------------------------------------------------------

def test_effect_size_places_an_interval_against_the_floor():
    assert stats.effect_size(5.0, 9.0, 4.0) == "above"
    assert stats.effect_size(4.0, 9.0, 4.0) == "above"
    assert stats.effect_size(-1.0, 3.9, 4.0) == "below"
    assert stats.effect_size(2.0, 9.0, 4.0) == "straddles"


def test_levelled_off_tells_a_plateau_from_a_steady_line():
    x = _x(60)
    plateau = np.minimum(x, 20.0)
    full = stats.trend([(x, plateau)])
    tail = stats.trend([(x[30:], plateau[30:])], alpha=0.1)
    assert stats.levelled_off(full, tail)
    line = stats.trend([(x, x)])
    assert not stats.levelled_off(line, stats.trend([(x[30:], x[30:])], alpha=0.1))


def test_robust_sd_of_normal_noise_and_errors():
    values = np.random.default_rng(2).normal(0.0, 3.0, 4000)
    assert stats.robust_sd(values) == pytest.approx(3.0, rel=0.05)
    with pytest.raises(ValueError, match=r"^values is empty; at least one value is needed$"):
        stats.robust_sd([])
    assert math.isfinite(stats.robust_sd([1.0]))
