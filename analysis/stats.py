"""Trend statistics for leak detection: pure functions on numeric series.

Established methods only:

- Mann-Kendall trend test (Mann 1945; Kendall 1975) with the tie-corrected variance of S.
- Hamed & Rao (1998), "A modified Mann-Kendall trend test for autocorrelated data", Journal of
  Hydrology 204: 182-196: the variance of S is inflated by n/n*, estimated from the significant
  lag autocorrelations of the ranks of the detrended series.
- Theil-Sen slope (Theil 1950; Sen 1968, JASA 63: 1379-1389) with Sen's rank-based confidence
  interval, computed from the same (corrected) variance of S, so the test and the interval agree.
- Seasonal Kendall test and slope (Hirsch, Slack & Smith 1982, Water Resources Research 18: 107-121)
  to combine several independent blocks -- here, execution environments: S and Var(S) are summed
  over blocks, the slope is the median of the within-block pairwise slopes. Pairs never cross blocks.
- Block minima ("windowed floors"): the minimum (or a low quantile) of consecutive windows, which
  sees through a garbage-collector sawtooth and shortens the reach of autocorrelated noise, in the
  spirit of the block approach to dependent data.

Every function rejects bad input with a ValueError naming the offending value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.stats import norm, rankdata


@dataclass(frozen=True)
class Trend:
    """Combined Mann-Kendall / Theil-Sen evidence over one or more blocks.

    slope, slope_low, slope_high are in y units per x unit; p_value is one-sided, for an
    increasing trend. var_s is the autocorrelation-corrected variance of S.
    """

    slope: float
    slope_low: float
    slope_high: float
    p_value: float
    s: float
    var_s: float
    n: int
    blocks: int


def as_series(x: Sequence[float], y: Sequence[float], min_points: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate a series and return it as float arrays.

    x must be strictly increasing (invocation counts or times); both must be finite.
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.ndim != 1 or ya.ndim != 1:
        raise ValueError(f"x and y must be one-dimensional, got shapes {xa.shape} and {ya.shape}")
    if len(xa) != len(ya):
        raise ValueError(f"x and y differ in length: {len(xa)} != {len(ya)}")
    if len(xa) < min_points:
        raise ValueError(f"series has {len(xa)} points; at least {min_points} are needed")
    for name, arr in (("x", xa), ("y", ya)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            raise ValueError(f"{name} contains a non-finite value at index {bad[0]}: {float(arr[bad[0]])!r}")
    steps = np.flatnonzero(np.diff(xa) <= 0)
    if len(steps):
        i = steps[0] + 1
        raise ValueError(f"x is not strictly increasing at index {i}: {float(xa[i])!r} after {float(xa[i - 1])!r}")
    return xa, ya


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")


def window_floors(x, y, window: int, quantile: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Split the series into consecutive windows of about `window` points and keep a low point of each.

    Returns (x_mid, y_floor): the median x of each window and the `quantile` of its y values
    (0.0 is the minimum). Window sizes differ by at most one point; no point is dropped.
    """
    xa, ya = as_series(x, y, min_points=1)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    if not (isinstance(quantile, (int, float)) and 0.0 <= quantile <= 1.0):
        raise ValueError(f"quantile must be between 0 and 1, got {quantile!r}")
    count = max(1, len(xa) // int(window))
    sizes = np.full(count, len(xa) // count)
    sizes[: len(xa) % count] += 1           # the same split as numpy.array_split
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    xs = (xa[starts + (sizes - 1) // 2] + xa[starts + sizes // 2]) / 2.0  # x is sorted: median
    if quantile == 0.0:
        ys = np.minimum.reduceat(ya, starts)
    else:
        ys = np.array([np.quantile(ya[a:a + k], quantile) for a, k in zip(starts, sizes)])
    return xs, ys


def mann_kendall_s(y) -> tuple[float, float]:
    """Mann-Kendall statistic S and its variance under no trend, corrected for ties."""
    ya = np.asarray(y, dtype=float)
    n = len(ya)
    if n < 2:
        raise ValueError(f"series has {n} points; at least 2 are needed")
    i, j = np.triu_indices(n, k=1)
    s = float(np.sign(ya[j] - ya[i]).sum())
    _, counts = np.unique(ya, return_counts=True)
    ties = float(np.sum(counts * (counts - 1) * (2 * counts + 5)))
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    return s, var_s


def _rank_autocorrelation(values: np.ndarray) -> np.ndarray:
    """Lag-1 .. lag-(n-1) autocorrelation of the ranks of `values` (average ranks for ties)."""
    ranks = rankdata(values)
    centred = ranks - ranks.mean()
    denom = float(np.dot(centred, centred))
    n = len(values)
    if denom == 0.0:
        return np.zeros(n - 1)
    return np.array([np.dot(centred[: n - k], centred[k:]) / denom for k in range(1, n)])


def hamed_rao_factor(x, y, slope: float, alpha: float = 0.05) -> float:
    """Hamed & Rao (1998) variance inflation n/n* for autocorrelated data.

    The series is detrended with `slope` (its Theil-Sen slope), ranked, and only the rank
    autocorrelations outside the (1 - alpha) bounds of Anderson's test count. The factor is
    kept at >= 1: negative autocorrelation never shrinks the variance (a conservative choice).
    """
    xa, ya = as_series(x, y, min_points=2)
    _check_alpha(alpha)
    if not math.isfinite(slope):
        raise ValueError(f"slope must be finite, got {slope!r}")
    n = len(ya)
    if n < 3:
        return 1.0
    rho = _rank_autocorrelation(ya - slope * xa)
    lags = np.arange(1, n)
    z = norm.ppf(1.0 - alpha / 2.0)
    half = z * np.sqrt(np.maximum(n - lags - 1, 0)) / (n - lags)
    centre = -1.0 / (n - lags)
    significant = (rho < centre - half) | (rho > centre + half)
    weights = (n - lags) * (n - lags - 1) * (n - lags - 2)
    factor = 1.0 + 2.0 / (n * (n - 1) * (n - 2)) * float(np.sum(weights * rho * significant))
    return max(1.0, factor)


def pairwise_slopes(x, y) -> np.ndarray:
    """All slopes (y_j - y_i) / (x_j - x_i) for i < j, unsorted."""
    xa, ya = as_series(x, y, min_points=2)
    i, j = np.triu_indices(len(xa), k=1)
    return (ya[j] - ya[i]) / (xa[j] - xa[i])


def sen_interval(slopes, var_s: float, alpha: float = 0.05) -> tuple[float, float]:
    """Sen's (1968) two-sided (1 - alpha) confidence interval for the slope, from Var(S)."""
    _check_alpha(alpha)
    ordered = np.sort(np.asarray(slopes, dtype=float))
    total = len(ordered)
    if total == 0:
        raise ValueError("slopes is empty; at least one pairwise slope is needed")
    if not (math.isfinite(var_s) and var_s >= 0):
        raise ValueError(f"var_s must be finite and >= 0, got {var_s!r}")
    c = norm.ppf(1.0 - alpha / 2.0) * math.sqrt(var_s)
    low_i = int(np.clip(math.floor((total - c) / 2.0) - 1, 0, total - 1))
    high_i = int(np.clip(math.ceil((total + c) / 2.0), 0, total - 1))
    return float(ordered[low_i]), float(ordered[high_i])


def trend(blocks: Sequence[tuple], alpha: float = 0.05, autocorrelation: bool = True) -> Trend:
    """Mann-Kendall test and Theil-Sen slope over one block, or Seasonal Kendall over several.

    `blocks` is a sequence of (x, y) series with at least 3 points each. With `autocorrelation`
    the variance of S of each block is inflated by the Hamed & Rao factor. The interval is the
    two-sided (1 - alpha) Sen interval; p_value is one-sided for an increasing trend.
    """
    _check_alpha(alpha)
    if len(blocks) == 0:
        raise ValueError("blocks is empty; at least one series is needed")
    s_total, var_total, slopes, n_total = 0.0, 0.0, [], 0
    for x, y in blocks:
        xa, ya = as_series(x, y, min_points=3)
        s, var_s = mann_kendall_s(ya)
        block_slopes = pairwise_slopes(xa, ya)
        if autocorrelation and var_s > 0:
            var_s *= hamed_rao_factor(xa, ya, float(np.median(block_slopes)), alpha=0.05)
        s_total += s
        var_total += var_s
        slopes.append(block_slopes)
        n_total += len(xa)
    all_slopes = np.concatenate(slopes)
    slope = float(np.median(all_slopes))
    low, high = sen_interval(all_slopes, var_total, alpha)
    if var_total > 0:
        z = (s_total - math.copysign(1.0, s_total)) / math.sqrt(var_total) if s_total else 0.0
        p_value = float(norm.sf(z))
    else:
        p_value = 1.0 if s_total <= 0 else 0.0
    return Trend(slope, low, high, p_value, s_total, var_total, n_total, len(blocks))


def robust_sd(values) -> float:
    """Scale estimate 1.4826 * median absolute deviation (consistent for a normal sd)."""
    arr = np.asarray(values, dtype=float)
    if len(arr) == 0:
        raise ValueError("values is empty; at least one value is needed")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values contains a non-finite value")
    return float(1.4826 * np.median(np.abs(arr - np.median(arr))))


def effect_size(low: float, high: float, floor: float) -> str:
    """Place an interval against an effect-size floor: "above", "below" or "straddles".

    "above" when the whole interval is at or above the floor, "below" when it is entirely under it.
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"interval must be finite with low <= high, got [{low!r}, {high!r}]")
    if not (math.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be finite and > 0, got {floor!r}")
    if low >= floor:
        return "above"
    if high < floor:
        return "below"
    return "straddles"


def levelled_off(full: Trend, tail: Trend) -> bool:
    """Plateau test: the recent part grows significantly slower than the series as a whole.

    True when the upper end of the tail's slope interval lies below the overall slope point
    estimate: growth that levels off (warm-up, a bounded cache) rather than a steady leak, whose
    tail slope interval would contain the overall slope.
    """
    return full.slope > 0 and tail.slope_high < full.slope
