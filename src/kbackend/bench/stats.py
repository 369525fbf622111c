"""Statistics of timings: medians, quartiles, and a rank test for the regression gate.

Pure Python (no numpy: kbackend's own environment need not have it).

>>> median([3.0, 1.0, 2.0])
2.0
>>> iqr([1.0, 2.0, 3.0, 4.0, 5.0])
2.0
>>> round(mann_whitney_greater([4.0, 5.0, 6.0], [1.0, 2.0, 3.0]), 3)
0.05
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Sequence

#: Above this many label permutations the rank test uses the normal approximation.
EXACT_LIMIT = 5_000


def median(xs: Sequence[float]) -> float:
    return quantile(xs, 0.5)


def quantile(xs: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, R type 7)."""
    if not xs:
        raise ValueError("quantile of no samples")
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def iqr(xs: Sequence[float]) -> float:
    """Interquartile range: q3 - q1."""
    return quantile(xs, 0.75) - quantile(xs, 0.25)


def _u(a: Sequence[float], b: Sequence[float]) -> float:
    """Mann-Whitney U of `a`: pairs where a beats b, ties counting half."""
    u = 0.0
    for x in a:
        for y in b:
            u += 1.0 if x > y else 0.5 if x == y else 0.0
    return u


def mann_whitney_greater(a: Sequence[float], b: Sequence[float]) -> float:
    """One-sided p-value that values of `a` tend to be larger than those of `b`.

    Exact (all relabellings of the pooled values, ties included) when there are
    at most `EXACT_LIMIT` of them, else the normal approximation with tie and
    continuity corrections. With 3 values a side the smallest p is 1/20 = 0.05,
    reached only when every value of `a` exceeds every value of `b`.
    """
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return 1.0
    observed = _u(a, b)
    pooled = list(a) + list(b)
    if math.comb(n + m, n) <= EXACT_LIMIT:
        hits = total = 0
        idx = range(n + m)
        for chosen in combinations(idx, n):
            cs = set(chosen)
            aa = [pooled[i] for i in chosen]
            bb = [pooled[i] for i in idx if i not in cs]
            total += 1
            if _u(aa, bb) >= observed - 1e-12:
                hits += 1
        return hits / total
    mean = n * m / 2.0
    # tie correction
    counts: dict[float, int] = {}
    for v in pooled:
        counts[v] = counts.get(v, 0) + 1
    N = n + m
    tie = sum(t**3 - t for t in counts.values())
    var = n * m / 12.0 * ((N + 1) - tie / (N * (N - 1)))
    if var <= 0:
        return 1.0
    z = (observed - mean - 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))
