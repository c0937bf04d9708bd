#!/usr/bin/env python3
"""Reference values for the `abacus-stats` crate, written to stats/tests/fixtures/reference.json.

The Rust tests read only the committed JSON; rerun this script after changing a case:

    python3 -m venv ~/.cache/abacus/venv-stats
    ~/.cache/abacus/venv-stats/bin/pip install scipy==1.17.1 statsmodels==0.15.0 numpy==2.4.6
    ~/.cache/abacus/venv-stats/bin/python scripts/stats-reference/generate.py

Generated with Python 3, numpy 2.4.6, scipy 1.17.1, statsmodels 0.15.0 (the versions used are
also recorded in the JSON). Sources, per section (arms: "1" is treatment, "2" is control, so
statsmodels/scipy compute treatment - control):

- proportions
  - z, p_value_z:     statsmodels.stats.proportion.proportions_ztest(count=[x_t, x_c],
                      nobs=[n_t, n_c])  (pooled standard error, two-sided)
  - ci_wald:          statsmodels.stats.proportion.confint_proportions_2indep(x_t, n_t, x_c, n_c,
                      method="wald", compare="diff", alpha=alpha)
  - ci_newcombe:      confint_proportions_2indep(..., method="newcomb", compare="diff")
  - wilson_*:         statsmodels.stats.proportion.proportion_confint(x, n, alpha, method="wilson")
  - fisher_p:         scipy.stats.fisher_exact([[x_t, n_t - x_t], [x_c, n_c - x_c]]).pvalue
  - min_expected:     scipy.stats.contingency.expected_freq(table).min()
  - ci_rel:           delta method, no library implements it: numpy with
                      scipy.stats.norm.isf(alpha / 2) (formula in stats/README.md)
  - method, p_value, ci_abs, significant: the selection rule of compare_proportions (Fisher and
                      Newcombe when min_expected < 5, else z-test and Wald), applied here
- means (raw samples drawn here with numpy, seeded; the fixture keeps n, mean, sd, sum, sum_sq)
  - t, df, p_value:   scipy.stats.ttest_ind(treatment, control, equal_var=False)
  - ci_abs:           the same result's .confidence_interval(confidence_level=1 - alpha);
                      cross-checked against statsmodels CompareMeans.tconfint_diff(usevar="unequal")
  - "from stats" cases: scipy.stats.ttest_ind_from_stats(..., equal_var=False) and
                      scipy.stats.t.isf for the interval
  - ci_rel:           delta method with scipy.stats.t.isf(alpha / 2, df)
- ratios:             delta method with covariance, numpy (np.cov, ddof=1) from raw per-user
                      (numerator, denominator) samples; normal quantiles from scipy.stats.norm
- sample_size_*, mde_*, power_*:
  - proportions, formula "pooled" (the default): statsmodels.stats.proportion.
                      samplesize_proportions_2indep_onetail(baseline - target, target, power,
                      ratio, alpha) for sizes (pooled variance under the null for the critical
                      value, unpooled under the alternative), power_proportions_2indep(...).power
                      for power, the MDE by scipy.optimize.brentq on that sample size
  - proportions, formula "textbook": the unpooled closed form with scipy.stats.norm.isf; the
                      MDE by scipy.optimize.brentq on that formula (independent of the Rust
                      quadratic); power as norm.cdf(shift - z) + norm.cdf(-shift - z),
                      cross-checked for ratio 1 against statsmodels NormalIndPower().power
  - means:            statsmodels.stats.power.NormalIndPower().power(effect_size=delta/sd,
                      nobs1=n, alpha=alpha, ratio=ratio) for power; the closed form for sizes and
                      MDE, cross-checked: ceil(NormalIndPower().solve_power(...)) gives the same
                      integer sizes
- srm:                scipy.stats.chisquare(observed, f_exp=expected)
- chi_square_independence: scipy.stats.chi2_contingency(table, correction=False) (statistic,
                      pvalue, dof) on the table with its all-zero rows and columns removed
                      (the crate's convention; scipy itself refuses zero margins, and gives
                      statistic 0, p 1, dof 0 when one row or column is left); expected:
                      scipy.stats.contingency.expected_freq on the full table (0 in the
                      removed rows and columns)
- adjust:             statsmodels.stats.multitest.multipletests(p, method="bonferroni" | "holm" |
                      "fdr_bh")[1]
- noninferiority_proportions: statsmodels.stats.proportion.test_proportions_2indep(x_t, n_t,
                      x_c, n_c, value=-margin (or +margin), method="wald", compare="diff",
                      alternative="larger" (or "smaller")); bound with norm.isf(alpha)
- noninferiority_means: scipy.stats.ttest_ind_from_stats(mean_t + margin (or - margin), sd_t,
                      n_t, mean_c, sd_c, n_c, equal_var=False, alternative="greater" (or "less"));
                      bound with scipy.stats.t.isf(alpha, df)
- sequential_*:       the mixture SPRT of Johari et al. (2017) has no scipy/statsmodels
                      implementation; computed here with numpy from the formulas in
                      stats/README.md (an independent implementation, not a port of the Rust code);
                      cases with expected_users use gbstats' tuning of the mixing variance to the
                      planned users (generate_gbstats.py checks that tuning against gbstats itself)
"""

import json
import math
import platform
from pathlib import Path

import numpy as np
import scipy
import statsmodels
from scipy import optimize, stats
from scipy.stats import chi2_contingency
from scipy.stats.contingency import expected_freq
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    proportion_confint,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
    test_proportions_2indep,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

OUT = Path(__file__).resolve().parents[2] / "stats" / "tests" / "fixtures" / "reference.json"
RNG = np.random.default_rng(20240611)
DEFAULT_MIXING_VARIANCE = 0.01
FISHER_MIN_EXPECTED = 5.0


def f(x):
    """A plain float (or None) for JSON."""
    if x is None:
        return None
    x = float(x)
    assert math.isfinite(x), x
    return x


def pair(lo, hi):
    return [f(lo), f(hi)]


# --------------------------------------------------------------------------- proportions
def proportions_case(nc, xc, nt, xt, alpha):
    z, p_z = proportions_ztest(count=[xt, xc], nobs=[nt, nc])
    wald = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff", alpha=alpha)
    newc = confint_proportions_2indep(xt, nt, xc, nc, method="newcomb", compare="diff", alpha=alpha)
    wil_c = proportion_confint(xc, nc, alpha=alpha, method="wilson")
    wil_t = proportion_confint(xt, nt, alpha=alpha, method="wilson")
    table = np.array([[xt, nt - xt], [xc, nc - xc]])
    fisher_p = stats.fisher_exact(table).pvalue
    min_expected = expected_freq(table).min()
    pc, pt = xc / nc, xt / nt
    q = stats.norm.isf(alpha / 2)
    if pc > 0:
        rel = pt / pc - 1
        se = math.sqrt((pt * (1 - pt) / nt) / pc**2 + pt**2 * (pc * (1 - pc) / nc) / pc**4)
        ci_rel = pair(rel - q * se, rel + q * se)
    else:
        rel, ci_rel = None, None
    fisher = min_expected < FISHER_MIN_EXPECTED
    p_value = fisher_p if fisher else p_z
    ci_abs = newc if fisher else wald
    return {
        "control": {"users": nc, "conversions": xc},
        "treatment": {"users": nt, "conversions": xt},
        "alpha": alpha,
        "control_rate": f(pc),
        "treatment_rate": f(pt),
        "abs_lift": f(pt - pc),
        "rel_lift": f(rel),
        "z": f(z),
        "p_value_z": f(p_z),
        "ci_wald": pair(*wald),
        "ci_newcombe": pair(*newc),
        "ci_rel": ci_rel,
        "wilson_control": pair(*wil_c),
        "wilson_treatment": pair(*wil_t),
        "fisher_p": f(fisher_p),
        "min_expected": f(min_expected),
        "method": "fisher_exact" if fisher else "z_test",
        "p_value": f(p_value),
        "ci_abs": pair(*ci_abs),
        "significant": bool(p_value < alpha),
    }


def proportions_cases():
    fixed = [
        (10_000, 1_000, 10_000, 1_100, 0.05),
        (5_000, 250, 5_100, 290, 0.05),
        (31_231, 1_562, 31_231, 1_718, 0.05),
        (2_000_000, 100_000, 2_000_000, 101_000, 0.05),
        (1_000, 0, 1_000, 3, 0.05),
        (40, 1, 40, 6, 0.05),
        (5, 1, 8, 6, 0.05),
        (200, 190, 210, 205, 0.05),
        (1_000, 30, 1_200, 50, 0.01),
        (500, 100, 400, 60, 0.1),
        (100_000, 20, 100_000, 35, 0.05),
        (12, 2, 15, 9, 0.05),
        (50_000, 25_000, 50_000, 25_600, 0.001),
        (3_000, 2_990, 3_000, 2_999, 0.05),
    ]
    cases = [proportions_case(*c) for c in fixed]
    while len(cases) < 40:
        nc = int(math.exp(RNG.uniform(math.log(20), math.log(1e6))))
        nt = int(nc * RNG.uniform(0.8, 1.25))
        rc = RNG.uniform(0.002, 0.6)
        rt = min(0.99, rc * (1 + RNG.uniform(-0.2, 0.3)))
        xc, xt = int(RNG.binomial(nc, rc)), int(RNG.binomial(nt, rt))
        if xc + xt == 0 or xc + xt == nc + nt:
            continue
        alpha = [0.05, 0.01, 0.1][len(cases) % 3]
        cases.append(proportions_case(nc, xc, nt, xt, alpha))
    return cases


# --------------------------------------------------------------------------- means
def arm_stats(x):
    x = np.asarray(x, dtype=float)
    return {
        "n": int(x.size),
        "mean": f(x.mean()),
        "sd": f(x.std(ddof=1)),
        "sum": f(x.sum()),
        "sum_sq": f(np.sum(x * x)),
    }


def welch_rel(mc, vc, mt, vt, q):
    if mc == 0:
        return None, None
    rel = mt / mc - 1
    se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    return f(rel), pair(rel - q * se, rel + q * se)


def means_case_raw(name, xc, xt, alpha):
    res = stats.ttest_ind(xt, xc, equal_var=False)
    ci = res.confidence_interval(confidence_level=1 - alpha)
    sm = CompareMeans(DescrStatsW(xt), DescrStatsW(xc)).tconfint_diff(alpha=alpha, usevar="unequal")
    assert abs(sm[0] - ci.low) <= 1e-9 * abs(ci.low) + 1e-12, (sm, ci)
    c, t = arm_stats(xc), arm_stats(xt)
    q = stats.t.isf(alpha / 2, res.df)
    rel, ci_rel = welch_rel(
        c["mean"], c["sd"] ** 2 / c["n"], t["mean"], t["sd"] ** 2 / t["n"], q
    )
    return {
        "name": name,
        "control": c,
        "treatment": t,
        "alpha": alpha,
        "abs_lift": f(t["mean"] - c["mean"]),
        "rel_lift": rel,
        "t": f(res.statistic),
        "df": f(res.df),
        "p_value": f(res.pvalue),
        "ci_abs": pair(ci.low, ci.high),
        "ci_rel": ci_rel,
        "significant": bool(res.pvalue < alpha),
    }


def means_case_stats(name, c, t, alpha):
    (nc, mc, sc), (nt, mt, st) = c, t
    res = stats.ttest_ind_from_stats(mt, st, nt, mc, sc, nc, equal_var=False)
    vc, vt = sc**2 / nc, st**2 / nt
    df = (vc + vt) ** 2 / (vc**2 / (nc - 1) + vt**2 / (nt - 1))
    q = stats.t.isf(alpha / 2, df)
    se = math.sqrt(vc + vt)
    rel, ci_rel = welch_rel(mc, vc, mt, vt, q)
    return {
        "name": name,
        "control": {"n": nc, "mean": f(mc), "sd": f(sc)},
        "treatment": {"n": nt, "mean": f(mt), "sd": f(st)},
        "alpha": alpha,
        "abs_lift": f(mt - mc),
        "rel_lift": rel,
        "t": f(res.statistic),
        "df": f(df),
        "p_value": f(res.pvalue),
        "ci_abs": pair(mt - mc - q * se, mt - mc + q * se),
        "ci_rel": ci_rel,
        "significant": bool(res.pvalue < alpha),
    }


def revenue(n, conv, mu, sigma):
    """Zero-inflated log-normal revenue per user."""
    buys = RNG.random(n) < conv
    return np.where(buys, RNG.lognormal(mu, sigma, n), 0.0)


def means_cases():
    return [
        means_case_raw("normal 50 vs 60", RNG.normal(10, 2, 50), RNG.normal(10.8, 2.5, 60), 0.05),
        means_case_raw("lognormal 2000", RNG.lognormal(3, 1, 2000), RNG.lognormal(3.05, 1, 2100), 0.05),
        means_case_raw("tiny 2 vs 3", RNG.normal(5, 1, 2), RNG.normal(6, 1, 3), 0.05),
        means_case_raw("unequal 5 vs 500", RNG.normal(0.5, 4, 5), RNG.normal(1.0, 0.5, 500), 0.05),
        means_case_raw("revenue 10k", revenue(10_000, 0.05, 3, 1), revenue(10_000, 0.055, 3, 1), 0.01),
        means_case_raw("sessions 300k", RNG.poisson(3.0, 300_000), RNG.poisson(3.01, 300_000), 0.05),
        means_case_raw("normal 2M", RNG.normal(100, 30, 2_000_000), RNG.normal(100.05, 30, 2_000_000), 0.05),
        means_case_raw("negative means", RNG.normal(-3, 1, 80), RNG.normal(-2.7, 1.5, 90), 0.1),
        means_case_stats("from stats", (1000, 12.5, 4.0), (1100, 12.9, 4.4), 0.05),
        means_case_stats("zero control mean", (400, 0.0, 1.0), (420, 0.2, 1.1), 0.05),
        means_case_stats("one arm without variance", (30, 5.0, 0.0), (40, 5.6, 1.2), 0.05),
        means_case_stats("df near one", (2, 0.0, 10.0), (1000, 3.0, 0.1), 0.05),
        means_case_stats("alpha 0.2", (5000, 1.0, 0.3), (5000, 1.01, 0.3), 0.2),
    ]


# --------------------------------------------------------------------------- ratios
def ratio_arm(num, den):
    num, den = np.asarray(num, float), np.asarray(den, float)
    n = num.size
    summary = {
        "n": int(n),
        "sum_num": f(num.sum()),
        "sum_den": f(den.sum()),
        "sum_num_sq": f(np.sum(num * num)),
        "sum_den_sq": f(np.sum(den * den)),
        "sum_num_den": f(np.sum(num * den)),
    }
    cov = np.cov(np.vstack([num, den]), ddof=1)
    mx, my = num.mean(), den.mean()
    r = num.sum() / den.sum()
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * my * my)
    return summary, r, var


def ratio_case(name, c, t, alpha):
    sc, rc, vc = ratio_arm(*c)
    st, rt, vt = ratio_arm(*t)
    se = math.sqrt(vc + vt)
    z = (rt - rc) / se
    q = stats.norm.isf(alpha / 2)
    p = 2 * stats.norm.sf(abs(z))
    rel = rt / rc - 1
    se_rel = math.sqrt(vt / rc**2 + rt**2 * vc / rc**4)
    return {
        "name": name,
        "control": sc,
        "treatment": st,
        "alpha": alpha,
        "control_ratio": f(rc),
        "treatment_ratio": f(rt),
        "abs_lift": f(rt - rc),
        "rel_lift": f(rel),
        "z": f(z),
        "p_value": f(p),
        "se": f(se),
        "ci_abs": pair(rt - rc - q * se, rt - rc + q * se),
        "ci_rel": pair(rel - q * se_rel, rel + q * se_rel),
        "significant": bool(p < alpha),
    }


def orders_and_revenue(n, rate, mu):
    orders = RNG.poisson(rate, n)
    revenue = np.array([RNG.lognormal(mu, 0.8, k).sum() for k in orders])
    return revenue, orders


def ratio_cases():
    return [
        ratio_case("revenue per order", orders_and_revenue(3000, 1.2, 3.0), orders_and_revenue(3100, 1.2, 3.05), 0.05),
        ratio_case("clicks per session", (RNG.poisson(4, 20_000), RNG.poisson(2, 20_000) + 1), (RNG.poisson(4.1, 20_000), RNG.poisson(2, 20_000) + 1), 0.05),
        ratio_case("small", orders_and_revenue(40, 2.0, 2.0), orders_and_revenue(50, 2.0, 2.2), 0.1),
        ratio_case("alpha 0.01", (RNG.normal(10, 3, 5000), RNG.uniform(1, 3, 5000)), (RNG.normal(10.2, 3, 5000), RNG.uniform(1, 3, 5000)), 0.01),
    ]


# --------------------------------------------------------------------------- planning
def k_factor(alpha, power):
    return (stats.norm.isf(alpha / 2) + stats.norm.isf(1 - power)) ** 2


def ceil_int(x):
    r = round(x)
    return int(r) if abs(x - r) <= 1e-9 * x else int(math.ceil(x))


def target_rate(baseline, mde, absolute):
    return baseline + mde if absolute else baseline * (1 + mde)


def pooled_sizes(baseline, target, alpha, power, ratio):
    """statsmodels' two-sample proportions sample size with the pooled variance under the null
    (sample 1 is control with the baseline rate, sample 2 treatment: ratio = n_t / n_c)."""
    return samplesize_proportions_2indep_onetail(
        baseline - target, target, power, ratio=ratio, alpha=alpha, alternative="two-sided")


def textbook_sizes(baseline, target, alpha, power, ratio):
    k = k_factor(alpha, power)
    return k * (baseline * (1 - baseline) + target * (1 - target) / ratio) / (target - baseline) ** 2


SIZES = {"pooled": pooled_sizes, "textbook": textbook_sizes}


def sample_size_proportions_cases():
    cases = []
    for baseline, mde, absolute, alpha, power, ratio, daily in [
        (0.05, 0.10, False, 0.05, 0.8, 1.0, 10_000),
        (0.05, 0.01, True, 0.05, 0.8, 1.0, None),
        (0.20, 0.05, False, 0.01, 0.9, 1.0, 2_500),
        (0.10, -0.10, False, 0.05, 0.8, 1.0, None),
        (0.03, 0.20, False, 0.05, 0.8, 2.0, 1_000),
        (0.50, 0.02, True, 0.10, 0.95, 0.5, 777),
        (0.001, 0.5, False, 0.05, 0.8, 1.0, 100_000),
        (0.02, 0.5, False, 0.05, 0.8, 4.0, None),
        (0.02, 0.5, False, 0.05, 0.8, 0.25, None),
        (0.10, 0.10, False, 0.05, 0.8, 0.5, None),
        (0.10, 0.10, False, 0.05, 0.8, 2.0, None),
    ]:
        for formula, size in SIZES.items():
            p1 = baseline
            p2 = target_rate(baseline, mde, absolute)
            raw = size(p1, p2, alpha, power, ratio)
            control, treatment = ceil_int(raw), ceil_int(raw * ratio)
            case = {
                "formula": formula, "baseline": baseline, "mde": mde, "mde_absolute": absolute,
                "alpha": alpha, "power": power, "ratio": ratio, "target": f(p2),
                "raw_control": f(raw), "control": control, "treatment": treatment,
                "total": control + treatment,
            }
            if daily is not None:
                case["daily_users"] = daily
                case["days"] = -(-(control + treatment) // daily)
            cases.append(case)
    # The examples: 5% -> 5.5% at 1:1, and 2% -> 3% with four treatment users per control.
    assert cases[0]["control"] == 31_234 and cases[1]["control"] == 31_231, cases[:2]
    assert cases[14]["control"] == 2_495 and cases[15]["control"] == 2_110, cases[14:16]
    return cases


def mde_proportions_cases():
    cases = []
    for baseline, n, alpha, power, ratio in [
        (0.05, 31_231, 0.05, 0.8, 1.0),
        (0.10, 20_000, 0.05, 0.8, 1.0),
        (0.30, 1_000, 0.01, 0.9, 2.0),
        (0.01, 1_000_000, 0.05, 0.8, 0.5),
        (0.7, 500, 0.1, 0.8, 1.0),
        (0.02, 2_495, 0.05, 0.8, 4.0),
    ]:
        for formula, size in SIZES.items():
            p1 = baseline

            def gap(d):
                return size(p1, p1 + d, alpha, power, ratio) - n

            d = optimize.brentq(gap, 1e-12, 1 - p1 - 1e-12, xtol=1e-15, rtol=1e-15)
            cases.append({"formula": formula, "baseline": baseline, "control_users": n,
                          "alpha": alpha, "power": power, "ratio": ratio, "mde": f(d)})
    return cases


def power_proportions_cases():
    cases = []
    for baseline, target, n, alpha, ratio in [
        (0.05, 0.055, 31_231, 0.05, 1.0),
        (0.05, 0.055, 10_000, 0.05, 1.0),
        (0.10, 0.09, 5_000, 0.01, 1.0),
        (0.2, 0.25, 300, 0.05, 3.0),
        (0.5, 0.5, 100, 0.05, 1.0),
        (0.02, 0.03, 2_110, 0.05, 4.0),
        (0.02, 0.03, 2_495, 0.05, 4.0),
        (0.02, 0.03, 9_087, 0.05, 0.25),
    ]:
        # pooled: statsmodels power_proportions_2indep (pooled variance under the null,
        # unpooled under the alternative, both tails)
        pooled = power_proportions_2indep(baseline - target, target, n, ratio=ratio, alpha=alpha,
                                          alternative="two-sided").power
        cases.append({"formula": "pooled", "baseline": baseline, "target": target,
                      "control_users": n, "alpha": alpha, "ratio": ratio, "power": f(pooled)})
        z = stats.norm.isf(alpha / 2)
        se = math.sqrt(baseline * (1 - baseline) / n + target * (1 - target) / (ratio * n))
        shift = abs(target - baseline) / se
        power = stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z)
        if ratio == 1.0 and target != baseline:
            sigma = math.sqrt((baseline * (1 - baseline) + target * (1 - target)) / 2)
            sm = NormalIndPower().power(abs(target - baseline) / sigma, n, alpha, ratio=1.0)
            assert abs(sm - power) < 1e-12, (sm, power)
        cases.append({"formula": "textbook", "baseline": baseline, "target": target,
                      "control_users": n, "alpha": alpha, "ratio": ratio, "power": f(power)})
    # The example: 2,110 control users (textbook plan, 1:4) give 72.5% power, not 80%.
    assert abs(cases[10]["power"] - 0.7247) < 1e-4, cases[10]
    return cases


def means_planning_cases():
    sizes, mdes, powers = [], [], []
    for sd, delta, alpha, power, ratio in [
        (1.0, 0.1, 0.05, 0.8, 1.0),
        (1.0, 0.1, 0.05, 0.8, 2.0),
        (25.0, 1.5, 0.01, 0.9, 1.0),
        (3.0, -0.2, 0.05, 0.8, 0.5),
        (100.0, 2.0, 0.1, 0.95, 1.0),
    ]:
        k = k_factor(alpha, power)
        raw = k * sd * sd * (1 + 1 / ratio) / delta**2
        control, treatment = ceil_int(raw), ceil_int(raw * ratio)
        sm = NormalIndPower().solve_power(effect_size=abs(delta) / sd, alpha=alpha, power=power, ratio=ratio)
        assert math.ceil(sm) == control, (sm, raw)
        sizes.append({"sd": sd, "delta": delta, "alpha": alpha, "power": power, "ratio": ratio,
                      "raw_control": f(raw), "control": control, "treatment": treatment,
                      "total": control + treatment})
    for sd, n, alpha, power, ratio in [
        (1.0, 1570, 0.05, 0.8, 1.0),
        (25.0, 10_000, 0.01, 0.9, 1.0),
        (3.0, 400, 0.05, 0.8, 3.0),
    ]:
        k = k_factor(alpha, power)
        mde = math.sqrt(k * sd * sd * (1 + 1 / ratio) / n)
        sm = NormalIndPower().solve_power(nobs1=n, alpha=alpha, power=power, ratio=ratio) * sd
        assert abs(sm - mde) < 1e-4 * mde, (sm, mde)
        mdes.append({"sd": sd, "control_n": n, "alpha": alpha, "power": power, "ratio": ratio,
                     "mde": f(mde)})
    for sd, delta, n, alpha, ratio in [
        (1.0, 0.1, 1570, 0.05, 1.0),
        (1.0, 0.1, 1000, 0.05, 2.0),
        (25.0, -1.0, 5000, 0.01, 1.0),
        (2.0, 0.05, 100, 0.1, 0.5),
    ]:
        p = NormalIndPower().power(effect_size=abs(delta) / sd, nobs1=n, alpha=alpha, ratio=ratio)
        powers.append({"sd": sd, "delta": delta, "control_n": n, "alpha": alpha, "ratio": ratio,
                       "power": f(p)})
    return sizes, mdes, powers


# --------------------------------------------------------------------------- srm, adjust
def srm_cases():
    cases = []
    for observed, weights, threshold in [
        ([5000, 5200], [50, 50], 0.001),
        ([5000, 5050], [50, 50], 0.001),
        ([10_000, 11_000], [1, 1], 0.001),
        ([2000, 4100, 3900], [0.2, 0.4, 0.4], 0.001),
        ([1000, 1100, 950, 1010], [1, 1, 1, 1], 0.01),
        ([90_000, 10_500], [90, 10], 0.001),
        ([3, 9], [1, 1], 0.05),
    ]:
        total = sum(observed)
        expected = [total * w / sum(weights) for w in weights]
        res = stats.chisquare(observed, f_exp=expected)
        cases.append({"observed": observed, "weights": [float(w) for w in weights],
                      "threshold": threshold, "expected": [f(e) for e in expected],
                      "chi2": f(res.statistic), "p_value": f(res.pvalue),
                      "mismatch": bool(res.pvalue < threshold)})
    return cases


def independence_cases():
    """Variants x segment values (users); the last table is a near-independent 5 x 6 draw."""
    tables = [
        [[10, 20], [30, 25]],
        [[1, 2], [3, 0]],
        [[1_000, 9_000], [1_100, 8_900]],
        [[5_000, 3_000, 2_000], [5_100, 2_950, 1_980]],
        [[1_000, 500, 300], [800, 700, 320]],
        [[1_200, 800, 450, 300], [1_150, 830, 470, 280], [1_210, 790, 440, 320]],
        [[120, 0, 80, 40], [110, 0, 95, 30]],
        [[0, 0, 0], [50, 0, 70], [60, 0, 40], [0, 0, 0]],
        [[4_000_000, 2_500_000, 1_000_000, 500_000], [4_010_000, 2_490_000, 1_003_000, 497_000],
         [3_995_000, 2_505_000, 998_000, 502_500]],
        [[40_000_000_000, 25_000_000_000], [40_000_100_000, 24_999_900_000]],
        [[3, 5, 7]],
        [[5, 0], [7, 0]],
    ]
    rng = np.random.default_rng(20260611)
    weights = np.outer([0.5, 0.2, 0.1, 0.1, 0.1], [0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    tables.append(rng.multinomial(200_000, weights.ravel()).reshape(weights.shape).tolist())
    cases = []
    for table in tables:
        full = np.array(table, dtype=np.int64)
        kept = full[full.sum(axis=1) > 0][:, full.sum(axis=0) > 0]
        res = chi2_contingency(kept, correction=False)
        expected = expected_freq(full)
        cases.append({"table": [[int(x) for x in row] for row in table],
                      "chi2": f(res.statistic), "df": int(res.dof), "p_value": f(res.pvalue),
                      "expected": [[f(e) for e in row] for row in expected]})
    return cases


def adjust_cases():
    inputs = [
        [0.01, 0.04, 0.03],
        [0.001, 0.2, 0.03, 0.04, 0.5, 0.012, 0.9, 0.04, 0.0, 1.0],
        [0.5],
        [0.02, 0.02, 0.02, 0.02],
        [float(p) for p in RNG.uniform(0, 0.2, 25)],
    ]
    cases = []
    for p in inputs:
        for method, sm in [("bonferroni", "bonferroni"), ("holm", "holm"), ("bh", "fdr_bh")]:
            adjusted = multipletests(p, method=sm)[1]
            cases.append({"p_values": p, "method": method, "adjusted": [f(a) for a in adjusted]})
    return cases


# --------------------------------------------------------------------------- non-inferiority
def ni_proportions_cases():
    cases = []
    for nc, xc, nt, xt, margin, direction, alpha in [
        (50_000, 5_000, 50_000, 4_980, 0.005, "higher_is_better", 0.05),
        (50_000, 5_000, 50_000, 4_700, 0.005, "higher_is_better", 0.05),
        (8_000, 400, 8_200, 430, 0.01, "lower_is_better", 0.025),
        (1_000, 100, 1_000, 100, 0.0, "higher_is_better", 0.05),
    ]:
        higher = direction == "higher_is_better"
        res = test_proportions_2indep(xt, nt, xc, nc, value=-margin if higher else margin,
                                      method="wald", compare="diff",
                                      alternative="larger" if higher else "smaller")
        pc, pt = xc / nc, xt / nt
        se = math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
        q = stats.norm.isf(alpha)
        diff = pt - pc
        statistic = res.statistic if higher else -res.statistic
        cases.append({"control": {"users": nc, "conversions": xc},
                      "treatment": {"users": nt, "conversions": xt}, "margin": margin,
                      "direction": direction, "alpha": alpha, "abs_lift": f(diff),
                      "statistic": f(statistic), "p_value": f(res.pvalue),
                      "bound": f(diff - q * se if higher else diff + q * se),
                      "non_inferior": bool(res.pvalue < alpha)})
    return cases


def ni_means_cases():
    cases = []
    for c, t, margin, direction, alpha in [
        ((2000, 50.0, 20.0), (2100, 49.5, 21.0), 1.0, "higher_is_better", 0.05),
        ((2000, 50.0, 20.0), (2100, 48.0, 21.0), 1.0, "higher_is_better", 0.05),
        ((500, 230.0, 80.0), (520, 228.0, 75.0), 10.0, "lower_is_better", 0.05),
        ((12, 1.0, 0.4), (9, 1.1, 0.6), 0.2, "lower_is_better", 0.1),
    ]:
        (nc, mc, sc), (nt, mt, st) = c, t
        higher = direction == "higher_is_better"
        shifted = mt + margin if higher else mt - margin
        res = stats.ttest_ind_from_stats(shifted, st, nt, mc, sc, nc, equal_var=False,
                                         alternative="greater" if higher else "less")
        vc, vt = sc**2 / nc, st**2 / nt
        df = (vc + vt) ** 2 / (vc**2 / (nc - 1) + vt**2 / (nt - 1))
        q = stats.t.isf(alpha, df)
        se = math.sqrt(vc + vt)
        diff = mt - mc
        cases.append({"control": {"n": nc, "mean": mc, "sd": sc},
                      "treatment": {"n": nt, "mean": mt, "sd": st}, "margin": margin,
                      "direction": direction, "alpha": alpha, "abs_lift": f(diff),
                      "statistic": f(res.statistic if higher else -res.statistic), "df": f(df),
                      "p_value": f(res.pvalue),
                      "bound": f(diff - q * se if higher else diff + q * se),
                      "non_inferior": bool(res.pvalue < alpha)})
    return cases


# --------------------------------------------------------------------------- sequential
def msprt(estimate, se_test, se_ci, nc, nt, alpha, mixing):
    """Normal-mixture SPRT (Johari et al. 2017) with tau^2 = mixing * per-user variance."""
    v_test = se_test**2
    tau2_test = mixing * v_test / (1 / nc + 1 / nt)
    z = 0.0 if se_test == 0 else estimate / se_test
    lam = np.sqrt(v_test / (v_test + tau2_test)) * np.exp(
        tau2_test * estimate**2 / (2 * v_test * (v_test + tau2_test)))
    p = min(1.0, 1 / lam)
    v = se_ci**2
    tau2 = mixing * v / (1 / nc + 1 / nt)
    half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((v + tau2) / v)))
    return z, p, half


def tuned_mixing(alpha, expected_users, nc, nt):
    """gbstats' sequential tuning parameter: rho^2 = (-2 ln a + ln(1 - 2 ln a)) / N*, mixing
    variance rho^2 * N (N = nc + nt) per unit of the difference's variance, i.e.
    rho^2 * N * (1/nc + 1/nt) per unit of the per-user variance."""
    rho2 = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / expected_users
    return rho2 * (nc + nt) * (1 / nc + 1 / nt)


def sequential_proportions_cases():
    cases = []
    for nc, xc, nt, xt, alpha, mixing, expected in [
        (10_000, 1_000, 10_000, 1_100, 0.05, None, None),
        (10_000, 1_000, 10_000, 1_150, 0.05, None, None),
        (2_000, 100, 2_100, 150, 0.05, None, None),
        (500_000, 25_000, 500_000, 25_600, 0.05, None, None),
        (500_000, 25_000, 500_000, 25_600, 0.05, 1e-4, None),
        (300, 30, 280, 25, 0.1, 0.5, None),
        (200_000, 10_000, 200_000, 10_500, 0.05, None, 400_000),
        (10_000, 1_000, 10_000, 1_100, 0.05, None, 5_000),
        (30_000, 900, 31_000, 1_020, 0.1, None, 1_000_000),
    ]:
        pc, pt = xc / nc, xt / nt
        pooled = (xc + xt) / (nc + nt)
        se_test = math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt))
        sc, st = (xc + 1) / (nc + 2), (xt + 1) / (nt + 2)
        se_ci = math.sqrt(sc * (1 - sc) / nc + st * (1 - st) / nt)
        m = DEFAULT_MIXING_VARIANCE if mixing is None else mixing
        if expected is not None:
            m = tuned_mixing(alpha, expected, nc, nt)
        z, p, half = msprt(pt - pc, se_test, se_ci, nc, nt, alpha, m)
        case = {"control": {"users": nc, "conversions": xc},
                "treatment": {"users": nt, "conversions": xt}, "alpha": alpha,
                "mixing_variance": mixing, "estimate": f(pt - pc), "z": f(z),
                "p_value": f(p), "ci": pair(pt - pc - half, pt - pc + half),
                "significant": bool(p < alpha)}
        if expected is not None:
            case["expected_users"] = expected
        cases.append(case)
    return cases


def sequential_means_cases():
    cases = []
    for c, t, alpha, mixing in [
        ((5000, 10.0, 4.0), (5000, 10.3, 4.0), 0.05, None),
        ((1000, 52.0, 30.0), (1100, 50.0, 28.0), 0.05, None),
        ((200_000, 3.1, 2.0), (200_000, 3.12, 2.1), 0.01, 0.001),
    ]:
        (nc, mc, sc), (nt, mt, st) = c, t
        se = math.sqrt(sc**2 / nc + st**2 / nt)
        m = DEFAULT_MIXING_VARIANCE if mixing is None else mixing
        z, p, half = msprt(mt - mc, se, se, nc, nt, alpha, m)
        cases.append({"control": {"n": nc, "mean": mc, "sd": sc},
                      "treatment": {"n": nt, "mean": mt, "sd": st}, "alpha": alpha,
                      "mixing_variance": mixing, "estimate": f(mt - mc), "z": f(z),
                      "p_value": f(p), "ci": pair(mt - mc - half, mt - mc + half),
                      "significant": bool(p < alpha)})
    return cases


def main():
    sizes, mdes, powers = means_planning_cases()
    doc = {
        "generator": "scripts/stats-reference/generate.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
        },
        "proportions": proportions_cases(),
        "means": means_cases(),
        "ratios": ratio_cases(),
        "sample_size_proportions": sample_size_proportions_cases(),
        "mde_proportions": mde_proportions_cases(),
        "power_proportions": power_proportions_cases(),
        "sample_size_means": sizes,
        "mde_means": mdes,
        "power_means": powers,
        "srm": srm_cases(),
        "adjust": adjust_cases(),
        "noninferiority_proportions": ni_proportions_cases(),
        "noninferiority_means": ni_means_cases(),
        "sequential_proportions": sequential_proportions_cases(),
        "sequential_means": sequential_means_cases(),
        # own RNG and last: adding it left every other section byte-for-byte unchanged
        "chi_square_independence": independence_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
