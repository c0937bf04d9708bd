#!/usr/bin/env python3
"""Reference values from GrowthBook's gbstats for the `abacus-stats` crate, written to
stats/tests/fixtures/gbstats.json (CUPED, the Bayesian engine, sequential tests tuned to the plan).

The Rust tests read only the committed JSON; rerun this script after changing a case. gbstats
0.8.0 pins numpy < 2 and pandas < 2, so it gets its own environment (see requirements-gbstats.txt):

    python3 -m venv ~/.cache/abacus/venv-gbstats
    ~/.cache/abacus/venv-gbstats/bin/pip install -r scripts/stats-reference/requirements-gbstats.txt
    ~/.cache/abacus/venv-gbstats/bin/python scripts/stats-reference/generate_gbstats.py

Every value comes from gbstats' own classes (arms: gbstats' "a" is control, "b" treatment):

- cuped: RegressionAdjustedStatistic per arm (post = the metric, pre = the same metric before
  exposure), SampleMeanStatistic for continuous values ("mean") and ProportionStatistic for 0/1
  values ("binary"); theta = gbstats.models.statistics.compute_theta (pooled over both arms);
  abs_lift, ci_abs, p_value, df from TwoSidedTTest(difference_type="absolute"); rel_lift, ci_rel
  from TwoSidedTTest(difference_type="relative"); the unadjusted values from the same tests on the
  post statistics alone; variance_reduction = 1 - (adjusted sd / unadjusted sd)^2 of the absolute
  difference (gbstats' uplift.stddev). gbstats' adjusted mean of an arm is post.mean - theta *
  pre.mean; Abacus reports it centred on the pooled pre-period mean, post.mean - theta *
  (pre.mean - pooled pre mean), so control_mean and treatment_mean add theta * pooled pre mean to
  gbstats' (differences and lifts are gbstats' values unchanged).
- bayes: EffectBayesianABTest with gbstats' defaults (flat prior) or a proper GaussianPrior on the
  relative effect (prior_type "relative"); chance_to_win, risk, rel_lift (posterior mean), ci_rel
  and rel_sd from difference_type="relative", abs_lift, ci_abs and abs_sd from
  difference_type="absolute" (the prior rescaled by gbstats to the absolute scale). Proportions use
  ProportionStatistic, means SampleMeanStatistic (from n, mean, sd: sum = n * mean, sum_squares =
  (n - 1) * sd^2 + n * mean^2), ratios RatioStatistic, CUPED RegressionAdjustedStatistic.
- sequential: SequentialTwoSidedTTest(difference_type="absolute", sequential_tuning_parameter =
  the planned users) on SampleMeanStatistic and RegressionAdjustedStatistic.

Raw per-user data is drawn with numpy (seeded); the fixture keeps the per-arm sums.
"""

import json
import platform
from pathlib import Path

import gbstats
import numpy as np
import scipy
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    compute_theta,
)

OUT = Path(__file__).resolve().parents[2] / "stats" / "tests" / "fixtures" / "gbstats.json"
RNG = np.random.default_rng(20261115)


def f(x):
    x = float(x)
    assert np.isfinite(x), x
    return x


def pair(ci):
    return [f(ci[0]), f(ci[1])]


# --------------------------------------------------------------------------- statistics
def sums(y, x):
    y, x = np.asarray(y, float), np.asarray(x, float)
    return {
        "n": int(y.size),
        "sum_y": f(y.sum()),
        "sum_y2": f(np.sum(y * y)),
        "sum_x": f(x.sum()),
        "sum_x2": f(np.sum(x * x)),
        "sum_xy": f(np.sum(x * y)),
    }


def base(kind, n, s, s2):
    if kind == "binary":
        return ProportionStatistic(n=n, sum=s)
    return SampleMeanStatistic(n=n, sum=s, sum_squares=s2)


def post(kind, arm):
    return base(kind, arm["n"], arm["sum_y"], arm["sum_y2"])


def regression_adjusted(kind, arm):
    return RegressionAdjustedStatistic(
        n=arm["n"],
        post_statistic=post(kind, arm),
        pre_statistic=base(kind, arm["n"], arm["sum_x"], arm["sum_x2"]),
        post_pre_sum_of_products=arm["sum_xy"],
        theta=0,
    )


def ttest(a, b, alpha, difference_type):
    test = TwoSidedTTest(a, b, FrequentistConfig(alpha=alpha, difference_type=difference_type))
    result = test.compute_result()
    assert result.error_message is None, result
    return test, result


# --------------------------------------------------------------------------- cuped
def cuped_case(name, kind, yc, xc, yt, xt, alpha):
    c, t = sums(yc, xc), sums(yt, xt)
    theta = compute_theta(regression_adjusted(kind, c), regression_adjusted(kind, t))
    test_abs, absolute = ttest(regression_adjusted(kind, c), regression_adjusted(kind, t), alpha,
                               "absolute")
    _, relative = ttest(regression_adjusted(kind, c), regression_adjusted(kind, t), alpha,
                        "relative")
    _, plain = ttest(post(kind, c), post(kind, t), alpha, "absolute")
    _, plain_rel = ttest(post(kind, c), post(kind, t), alpha, "relative")
    pooled_pre = (c["sum_x"] + t["sum_x"]) / (c["n"] + t["n"])
    return {
        "name": name,
        "kind": kind,
        "control": c,
        "treatment": t,
        "alpha": alpha,
        "theta": f(theta),
        "control_mean": f(test_abs.stat_a.mean + theta * pooled_pre),
        "treatment_mean": f(test_abs.stat_b.mean + theta * pooled_pre),
        "control_mean_unadjusted": f(test_abs.stat_a.unadjusted_mean),
        "treatment_mean_unadjusted": f(test_abs.stat_b.unadjusted_mean),
        "abs_lift": f(absolute.expected),
        "ci_abs": pair(absolute.ci),
        "p_value": f(absolute.p_value),
        "df": f(test_abs.dof),
        "se": f(absolute.uplift.stddev),
        "rel_lift": f(relative.expected),
        "ci_rel": pair(relative.ci),
        "variance_reduction": f(1 - (absolute.uplift.stddev / plain.uplift.stddev) ** 2),
        "significant": bool(absolute.p_value < alpha),
        "unadjusted": {
            "abs_lift": f(plain.expected),
            "ci_abs": pair(plain.ci),
            "p_value": f(plain.p_value),
            "se": f(plain.uplift.stddev),
            "rel_lift": f(plain_rel.expected),
            "ci_rel": pair(plain_rel.ci),
        },
    }


def correlated_normal(n, mean, sd, rho, shift=0.0):
    pre = RNG.normal(mean, sd, n)
    noise = RNG.normal(0, sd, n)
    y = mean + shift + rho * (pre - mean) + np.sqrt(1 - rho**2) * noise
    return y, pre


def revenue_with_history(n, lift, history_share):
    """Per-user spend: a user's level, spent before exposure (only by users with history) and
    after it; zero-inflated log-normal, like revenue."""
    level = RNG.lognormal(2.5, 0.8, n)
    has_history = RNG.random(n) < history_share
    bought_before = RNG.random(n) < 0.5
    pre = np.where(has_history & bought_before, level * RNG.lognormal(0, 0.5, n), 0.0)
    buys_after = RNG.random(n) < 0.45
    y = np.where(buys_after, level * (1 + lift) * RNG.lognormal(0, 0.5, n), 0.0)
    return y, pre


def counts_with_history(n, lift):
    rate = RNG.gamma(2.0, 1.5, n)
    return RNG.poisson(rate * (1 + lift)).astype(float), RNG.poisson(rate).astype(float)


def conversions_with_history(n, lift):
    propensity = RNG.beta(0.6, 4.0, n)
    pre = (RNG.random(n) < propensity).astype(float)
    y = (RNG.random(n) < np.minimum(propensity * (1 + lift) * 1.1, 1.0)).astype(float)
    return y, pre


def cuped_cases():
    cases = []
    for name, kind, (yc, xc), (yt, xt), alpha in [
        ("revenue with history", "mean", revenue_with_history(5000, 0.0, 0.8),
         revenue_with_history(5200, 0.05, 0.8), 0.05),
        ("counts", "mean", counts_with_history(2000, 0.0), counts_with_history(2500, 0.08), 0.05),
        ("conversions", "binary", conversions_with_history(20_000, 0.0),
         conversions_with_history(20_000, 0.04), 0.05),
        ("conversions, alpha 0.1", "binary", conversions_with_history(3000, 0.0),
         conversions_with_history(2800, 0.1), 0.1),
        ("normal rho 0.7", "mean", correlated_normal(10_000, 50, 10, 0.7),
         correlated_normal(10_000, 50, 10, 0.7, 0.3), 0.05),
        ("normal rho -0.5", "mean", correlated_normal(800, 20, 4, -0.5),
         correlated_normal(900, 20, 4, -0.5, 0.5), 0.01),
        ("tiny", "mean", correlated_normal(5, 10, 2, 0.9), correlated_normal(7, 10, 2, 0.9, 1.0),
         0.05),
        ("weak correlation", "mean", correlated_normal(3000, 5, 1, 0.05),
         correlated_normal(3000, 5, 1, 0.05, 0.02), 0.05),
        ("large", "mean", correlated_normal(1_000_000, 100, 30, 0.6),
         correlated_normal(1_000_000, 100, 30, 0.6, 0.1), 0.05),
    ]:
        cases.append(cuped_case(name, kind, yc, xc, yt, xt, alpha))
    # No user has history: theta is 0 and the result is the unadjusted Welch test.
    yc, _ = revenue_with_history(1000, 0.0, 0.0)
    yt, _ = revenue_with_history(1100, 0.1, 0.0)
    case = cuped_case("no history", "mean", yc, np.zeros(yc.size), yt, np.zeros(yt.size), 0.05)
    assert case["theta"] == 0 and case["variance_reduction"] == 0, case
    cases.append(case)
    return cases


# --------------------------------------------------------------------------- bayes
def mean_statistic(n, mean, sd):
    return SampleMeanStatistic(n=n, sum=n * mean, sum_squares=(n - 1) * sd**2 + n * mean**2)


def bayes_run(make, alpha, prior, inverse, difference_type):
    config = EffectBayesianConfig(
        alpha=alpha,
        inverse=inverse,
        difference_type=difference_type,
        prior_type="relative",
        prior_effect=GaussianPrior(
            mean=prior[0] if prior else 0,
            variance=prior[1] ** 2 if prior else 1,
            proper=prior is not None,
        ),
    )
    a, b = make()
    result = EffectBayesianABTest(a, b, config).compute_result()
    assert result.error_message is None, result
    return result


def bayes_case(kind, inputs, make, alpha=0.05, prior=None, inverse=False):
    rel = bayes_run(make, alpha, prior, inverse, "relative")
    absolute = bayes_run(make, alpha, prior, inverse, "absolute")
    return {
        "kind": kind,
        **inputs,
        "alpha": alpha,
        "prior": None if prior is None else {"mean": prior[0], "sd": prior[1]},
        "inverse": inverse,
        "chance_to_win": f(rel.chance_to_win),
        "risk_control": f(rel.risk[0]),
        "risk_treatment": f(rel.risk[1]),
        "rel_lift": f(rel.expected),
        "ci_rel": pair(rel.ci),
        "rel_sd": f(rel.uplift.stddev),
        "abs_lift": f(absolute.expected),
        "ci_abs": pair(absolute.ci),
        "abs_sd": f(absolute.uplift.stddev),
    }


def bayes_cases():
    cases = []
    for (nc, xc, nt, xt), alpha, prior, inverse in [
        ((10_000, 1_000, 10_000, 1_100), 0.05, None, False),
        ((10_000, 1_000, 10_000, 1_100), 0.05, (0.0, 0.1), False),
        ((10_000, 1_000, 10_000, 1_030), 0.1, (0.02, 0.05), False),
        ((5_000, 250, 5_100, 240), 0.05, None, False),
        ((5_000, 250, 5_100, 240), 0.05, None, True),
        ((200, 20, 180, 40), 0.05, None, False),
        ((1_000_000, 30_000, 1_000_000, 30_150), 0.05, (0.0, 0.01), False),
        ((1_000, 500, 1_000, 500), 0.05, None, False),
    ]:
        inputs = {"control": {"users": nc, "conversions": xc},
                  "treatment": {"users": nt, "conversions": xt}}
        make = lambda nc=nc, xc=xc, nt=nt, xt=xt: (ProportionStatistic(n=nc, sum=xc),
                                                  ProportionStatistic(n=nt, sum=xt))
        cases.append(bayes_case("proportions", inputs, make, alpha, prior, inverse))
    for c, t, alpha, prior, inverse in [
        ((1000, 12.5, 4.0), (1100, 12.9, 4.4), 0.05, None, False),
        ((1000, 12.5, 4.0), (1100, 12.9, 4.4), 0.05, (0.0, 0.05), False),
        ((400, 3.2, 1.5), (420, 3.1, 1.4), 0.1, None, True),
        ((50_000, 20.0, 35.0), (50_000, 20.4, 36.0), 0.05, (0.01, 0.02), True),
    ]:
        inputs = {"control": {"n": c[0], "mean": c[1], "sd": c[2]},
                  "treatment": {"n": t[0], "mean": t[1], "sd": t[2]}}
        make = lambda c=c, t=t: (mean_statistic(*c), mean_statistic(*t))
        cases.append(bayes_case("means", inputs, make, alpha, prior, inverse))
    for n, rate, lift, prior in [(3000, 0.3, 0.05, None), (20_000, 0.1, -0.03, (0.0, 0.1))]:
        arms = []
        for arm_lift in (0.0, lift):
            den = RNG.poisson(2.0, n).astype(float)
            num = RNG.binomial(den.astype(int), rate * (1 + arm_lift)).astype(float)
            arms.append((n, {"n": n, "sum_num": f(num.sum()), "sum_den": f(den.sum()),
                             "sum_num_sq": f(np.sum(num * num)), "sum_den_sq": f(np.sum(den * den)),
                             "sum_num_den": f(np.sum(num * den))}))

        def ratio_stat(s):
            return RatioStatistic(
                n=s["n"],
                m_statistic=SampleMeanStatistic(n=s["n"], sum=s["sum_num"], sum_squares=s["sum_num_sq"]),
                d_statistic=SampleMeanStatistic(n=s["n"], sum=s["sum_den"], sum_squares=s["sum_den_sq"]),
                m_d_sum_of_products=s["sum_num_den"],
            )

        inputs = {"control": arms[0][1], "treatment": arms[1][1]}
        make = lambda a=arms: (ratio_stat(a[0][1]), ratio_stat(a[1][1]))
        cases.append(bayes_case("ratios", inputs, make, 0.05, prior, False))
    for name, kind, (yc, xc), (yt, xt), prior in [
        ("revenue", "mean", revenue_with_history(4000, 0.0, 0.8), revenue_with_history(4000, 0.06, 0.8),
         None),
        ("conversions", "binary", conversions_with_history(10_000, 0.0),
         conversions_with_history(10_000, 0.05), (0.0, 0.1)),
    ]:
        c, t = sums(yc, xc), sums(yt, xt)
        inputs = {"name": name, "cuped_kind": kind, "control": c, "treatment": t}
        make = lambda kind=kind, c=c, t=t: (regression_adjusted(kind, c), regression_adjusted(kind, t))
        cases.append(bayes_case("cuped", inputs, make, 0.05, prior, False))
    return cases


# --------------------------------------------------------------------------- sequential
def sequential_cases():
    cases = []
    for c, t, alpha, planned in [
        ((5000, 10.0, 4.0), (5000, 10.2, 4.0), 0.05, 10_000),
        ((5000, 10.0, 4.0), (5000, 10.2, 4.0), 0.05, 400_000),
        ((20_000, 1.0, 3.0), (19_000, 1.06, 3.1), 0.1, 5_000),
        ((300, 2.0, 1.0), (320, 2.3, 1.1), 0.05, 100_000),
        ((100_000, 0.5, 0.5), (100_000, 0.5, 0.5), 0.05, 200_000),
    ]:
        test = SequentialTwoSidedTTest(
            mean_statistic(*c), mean_statistic(*t),
            SequentialConfig(alpha=alpha, difference_type="absolute",
                             sequential_tuning_parameter=planned),
        )
        r = test.compute_result()
        assert r.error_message is None, r
        cases.append({"kind": "means", "control": {"n": c[0], "mean": c[1], "sd": c[2]},
                      "treatment": {"n": t[0], "mean": t[1], "sd": t[2]}, "alpha": alpha,
                      "expected_users": planned, "estimate": f(r.expected), "p_value": f(r.p_value),
                      "ci": pair(r.ci)})
    for name, kind, (yc, xc), (yt, xt), planned in [
        ("revenue", "mean", revenue_with_history(6000, 0.0, 0.8), revenue_with_history(6000, 0.05, 0.8),
         20_000),
        ("conversions", "binary", conversions_with_history(30_000, 0.0),
         conversions_with_history(30_000, 0.04), 100_000),
    ]:
        c, t = sums(yc, xc), sums(yt, xt)
        test = SequentialTwoSidedTTest(
            regression_adjusted(kind, c), regression_adjusted(kind, t),
            SequentialConfig(alpha=0.05, difference_type="absolute",
                             sequential_tuning_parameter=planned),
        )
        r = test.compute_result()
        assert r.error_message is None, r
        cases.append({"kind": "cuped", "name": name, "cuped_kind": kind, "control": c,
                      "treatment": t, "alpha": 0.05, "expected_users": planned,
                      "estimate": f(r.expected), "p_value": f(r.p_value), "ci": pair(r.ci)})
    return cases


def main():
    doc = {
        "generator": "scripts/stats-reference/generate_gbstats.py",
        "versions": {
            "python": platform.python_version(),
            "gbstats": gbstats.__version__ if hasattr(gbstats, "__version__") else "0.8.0",
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "cuped": cuped_cases(),
        "bayes": bayes_cases(),
        "sequential": sequential_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
