"""Statistics for campaign results: differences of rates and of means with 95% intervals, A/B tests.

Pure functions on counts and sums (no database), so the admin page, tests and a notebook agree.

- Difference of two proportions (conversion rate sent − holdout): normal approximation with the
  unpooled standard error sqrt(p1(1−p1)/n1 + p2(1−p2)/n2) (Wald interval).
- Difference of two means (revenue per client sent − holdout): Welch's t interval, with the
  Welch–Satterthwaite degrees of freedom, from each group's n, sum and sum of squares. Revenue per
  client is very skewed (most clients spend 0), so the interval is only as good as the groups are
  large; with thousands per group the t and normal intervals are the same.
- A/B: the two-proportion z-test with the pooled proportion under "no difference", two-sided;
  significant when p < 0.05.
- Incremental conversions and revenue: the per-recipient difference (rate or mean, sent − holdout)
  times the number of recipients measured in the sent group, interval and all: what sending added
  over what those recipients would have done anyway, as the holdout shows.
- Return on spend: (incremental revenue − cost) / cost. It rises with the incremental revenue, so
  its interval is the revenue interval's two ends put through the same formula.
Everything returns None where a group is empty (or too small for a variance) rather than a number
that looks meaningful.
"""

import math
from dataclasses import dataclass

from scipy.stats import t as student_t

Z_95 = 1.959963984540054  # the 97.5% quantile of the standard normal
ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self):
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class ZTest:
    z: float
    p_value: float

    @property
    def significant(self):
        return self.p_value < ALPHA


def rate(successes, n):
    return successes / n if n else None


def proportion_difference(x1, n1, x2, n2, z=Z_95):
    """x1/n1 − x2/n2 with its normal-approximation interval; None when a group is empty."""
    if not n1 or not n2:
        return None
    p1, p2 = x1 / n1, x2 / n2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    diff = p1 - p2
    return Interval(diff, diff - z * se, diff + z * se)


def mean_and_variance(n, total, total_sq):
    """Mean and sample variance (n − 1) from n, Σx and Σx²; variance None below 2 values."""
    if not n:
        return None, None
    mean = total / n
    if n < 2:
        return mean, None
    # Σ(x − mean)² = Σx² − n·mean²; rounding can make a zero variance slightly negative.
    return mean, max(total_sq - n * mean * mean, 0.0) / (n - 1)


def mean_difference(n1, sum1, sumsq1, n2, sum2, sumsq2, confidence=0.95):
    """mean1 − mean2 with Welch's t interval; None when a group has fewer than 2 values."""
    mean1, var1 = mean_and_variance(n1, sum1, sumsq1)
    mean2, var2 = mean_and_variance(n2, sum2, sumsq2)
    if var1 is None or var2 is None:
        return None
    diff = mean1 - mean2
    a, b = var1 / n1, var2 / n2
    se = math.sqrt(a + b)
    if se == 0:
        return Interval(diff, diff, diff)
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    half = float(student_t.ppf(1 - (1 - confidence) / 2, df)) * se
    return Interval(diff, diff - half, diff + half)


def scaled(interval, n):
    """A per-recipient difference times n recipients (incremental conversions or revenue); None stays None."""
    if interval is None:
        return None
    return Interval(interval.estimate * n, interval.low * n, interval.high * n)


def return_on_spend(incremental_revenue, cost):
    """(incremental revenue − cost) / cost, with its interval; None without a revenue interval or a cost above 0."""
    if incremental_revenue is None or cost is None or cost <= 0:
        return None
    cost = float(cost)

    def net(revenue):
        return (revenue - cost) / cost

    return Interval(net(incremental_revenue.estimate), net(incremental_revenue.low), net(incremental_revenue.high))


def two_proportion_z_test(x1, n1, x2, n2):
    """Two-sided z-test of x1/n1 = x2/n2 with the pooled proportion; None when it cannot be computed."""
    if not n1 or not n2:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None  # no success or no failure in either group: nothing to tell them apart
    z = (x1 / n1 - x2 / n2) / se
    return ZTest(z, math.erfc(abs(z) / math.sqrt(2)))


@dataclass(frozen=True)
class Comparison:
    """The best of several variants on one rate against the runner-up."""

    winner: str | None  # None when the best rates tie
    runner_up: str | None
    test: ZTest | None

    @property
    def significant(self):
        return self.winner is not None and self.test is not None and self.test.significant


def best_of(variants):
    """variants: [(name, successes, n)] -> the highest rate, tested against the second highest.

    With more than two variants only the top two are tested (one test, no correction needed for
    the question "is the leader ahead of the next one").
    """
    ranked = sorted(((x / n, name, x, n) for name, x, n in variants if n), key=lambda r: r[0], reverse=True)
    if len(ranked) < 2:
        return Comparison(ranked[0][1] if ranked else None, None, None)
    (r1, name1, x1, n1), (r2, name2, x2, n2) = ranked[:2]
    test = two_proportion_z_test(x1, n1, x2, n2)
    if r1 == r2:
        return Comparison(None, None, test)
    return Comparison(name1, name2, test)
