#!/usr/bin/env python3
"""Reference values for the network-effect statistics of `abacus-stats` (cluster-randomized
and switchback experiments, interaction between experiments, the always-valid SRM test),
written to stats/tests/fixtures/network.json. The Rust tests read only the committed JSON;
rerun this script after changing a case:

    python3 -m venv ~/.cache/abacus/venv-network
    ~/.cache/abacus/venv-network/bin/pip install numpy==1.26.4 scipy==1.13.1 \
        statsmodels==0.14.4 pandas==2.2.3 toolz==0.12.1 mpmath==1.3.0
    ~/.cache/abacus/venv-network/bin/pip install --no-deps ssrm-test==0.1.5
    ~/.cache/abacus/venv-network/bin/python scripts/stats-reference/network.py

(ssrm-test 0.1.5, Optimizely's implementation of the sequential SRM test by M. Lindon, uses
`np.Inf` and so needs numpy < 2; its declared pins of toolz 0.10 and the `typing` backport
are not needed, hence --no-deps.) Sources, per section:

- clustered:   raw per-cluster totals (num_g, den_g) drawn here with numpy, seeded. Reference:
               statsmodels WLS(num_g/den_g ~ 1 + treated, weights=den_g)
               .fit(cov_type="cluster", cov_kwds={"groups": cluster id}, use_t=True): the
               treated coefficient (= R_t - R_c), its bse, tvalue, pvalue, conf_int(alpha),
               df_resid_inference (G - 1). CR1 correction as statsmodels applies it by default:
               G/(G-1) * (N-1)/(N-k). Relative lift R_t/R_c - 1 = b1/b0 with its interval from the
               delta method on statsmodels' cluster-robust cov_params() and the t quantile.
- switchback:  (unit, window) cells drawn here (unit levels, autocorrelated drift, random
               assignment per cell); the same WLS fit with groups = unit. The fixture keeps
               the per-unit totals by arm, which is all the Rust function reads.
- interaction: raw per-user outcomes per cell of an a x b table (rows: variants of A, columns:
               variants of B). Reference: statsmodels OLS(y ~ C(a) * C(b)).fit(cov_type="HC2");
               2x2: the a:b coefficient, bse, tvalue (z), pvalue, conf_int(alpha);
               larger tables: wald_test of all a:b coefficients (use_f=False, scalar=True),
               statistic, pvalue, df. HC2 on a saturated model gives each cell mean the
               variance s^2/n (sample variance), which is what the crate assumes.
- srm_sequential: log Bayes factor of the Dirichlet-multinomial mixture evaluated from its
               definition with mpmath at 50 digits (reference of record), cross-checked against
               ssrm_test.sequential_posteriors(data=[observed], null_probabilities,
               dirichlet_concentration=c) (recorded as ssrm_log_bayes_factor / ssrm_p_value;
               ssrm-test works in doubles, so its values differ from mpmath's by up to ~1e-6
               in ln BF at a billion users).
"""

import json
import math
import platform
from pathlib import Path

import mpmath
import numpy as np
import pandas as pd
import scipy
import ssrm_test
import statsmodels
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from ssrm_test import ssrm_test as ssrm

OUT = Path(__file__).resolve().parents[2] / "stats" / "tests" / "fixtures" / "network.json"
RNG = np.random.default_rng(20251127)


def f(x):
    if x is None:
        return None
    x = float(x)
    assert math.isfinite(x), x
    return x


def pair(lo, hi):
    return [f(lo), f(hi)]


def sums(num, den):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    return {
        "clusters": int(len(num)),
        "sum_num": f(num.sum()),
        "sum_den": f(den.sum()),
        "sum_num_sq": f((num * num).sum()),
        "sum_den_sq": f((den * den).sum()),
        "sum_num_den": f((num * den).sum()),
    }


def wls_cluster(num, den, treated, groups, alpha):
    """WLS of num/den on [1, treated], weights den, SE clustered by groups."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    X = sm.add_constant(np.asarray(treated, float))
    res = sm.WLS(num / den, X, weights=den).fit(
        cov_type="cluster", cov_kwds={"groups": np.asarray(groups)}, use_t=True
    )
    b0, b1 = res.params
    cov = res.cov_params()
    df = res.df_resid_inference
    q = stats.t.isf(alpha / 2, df)
    ci = res.conf_int(alpha)[1]
    rel = b1 / b0
    grad = np.array([-b1 / b0**2, 1 / b0])
    se_rel = math.sqrt(grad @ cov @ grad)
    return {
        "control_ratio": f(b0),
        "treatment_ratio": f(b0 + b1),
        "abs_lift": f(b1),
        "se": f(res.bse[1]),
        "t": f(res.tvalues[1]),
        "p_value": f(res.pvalues[1]),
        "df": int(df),
        "ci_abs": pair(*ci),
        "rel_lift": f(rel),
        "ci_rel": pair(rel - q * se_rel, rel + q * se_rel),
        "alpha": alpha,
    }


# --------------------------------------------------------------------------- clustered
def clustered_case(name, kc, kt, draw, alpha):
    c_num, c_den = draw(kc, False)
    t_num, t_den = draw(kt, True)
    num = np.concatenate([c_num, t_num])
    den = np.concatenate([c_den, t_den])
    treated = np.r_[np.zeros(kc), np.ones(kt)]
    out = wls_cluster(num, den, treated, np.arange(kc + kt), alpha)
    return {"name": name, "control": sums(c_num, c_den), "treatment": sums(t_num, t_den), **out}


def binary_clusters(k, treated):
    users = RNG.poisson(50, k) + 1
    rate = RNG.beta(0.1 * 9 + (0.01 if treated else 0), 0.9 * 9, k)
    return RNG.binomial(users, rate).astype(float), users.astype(float)


def revenue_clusters(k, treated):
    users = RNG.integers(5, 200, k)
    level = RNG.lognormal(1.0 + (0.1 if treated else 0.0), 0.6, k)
    revenue = np.array([RNG.gamma(2.0, lv / 2.0, u).sum() for u, lv in zip(users, level)])
    return revenue, users.astype(float)


def ratio_clusters(k, treated):
    orders = RNG.poisson(30, k) + 1.0
    revenue = orders * RNG.normal(25 + (1 if treated else 0), 4, k)
    return revenue, orders


def clustered_cases():
    return [
        clustered_case("binary 40 vs 45 clusters", 40, 45, binary_clusters, 0.05),
        clustered_case("binary 300 vs 310 clusters", 300, 310, binary_clusters, 0.05),
        clustered_case("revenue 12 vs 17 clusters", 12, 17, revenue_clusters, 0.1),
        clustered_case("ratio metric 25 vs 25 clusters", 25, 25, ratio_clusters, 0.05),
        clustered_case("binary 3 vs 4 clusters", 3, 4, binary_clusters, 0.05),
    ]


# --------------------------------------------------------------------------- switchback
def switchback_case(name, units, windows, totals, effect, alpha):
    rows = []
    for u in range(units):
        level = RNG.lognormal(3.0, 0.5)
        drift = 0.0
        for w in range(windows):
            drift = 0.7 * drift + RNG.normal(0, 0.1)
            treated = RNG.random() < 0.5
            mean = level * math.exp(drift) * (1 + (effect if treated else 0.0))
            if totals:
                den = 1.0
                num = float(RNG.poisson(mean))
            else:
                den = float(RNG.poisson(40) + 1)
                num = float(RNG.binomial(int(den), min(0.95, mean / 100.0)))
            rows.append((u, w, treated, num, den))
    df = pd.DataFrame(rows, columns=["unit", "window", "treated", "num", "den"])
    out = wls_cluster(df.num, df.den, df.treated, df.unit, alpha)
    per_unit = []
    for u, g in df.groupby("unit"):
        t, c = g[g.treated], g[~g.treated]
        per_unit.append({
            "treatment_num": f(t.num.sum()), "treatment_den": f(t.den.sum()),
            "treatment_cells": int(len(t)),
            "control_num": f(c.num.sum()), "control_den": f(c.den.sum()),
            "control_cells": int(len(c)),
        })
    return {"name": name, "units": per_unit, **out}


def switchback_cases():
    return [
        switchback_case("totals, 20 regions x 48 hours", 20, 48, True, 0.03, 0.05),
        switchback_case("per-user rate, 8 regions x 30 windows", 8, 30, False, 0.05, 0.05),
        switchback_case("totals, 50 regions x 24 windows, alpha 0.1", 50, 24, True, 0.0, 0.1),
    ]


# --------------------------------------------------------------------------- interaction
def interaction_case(name, rows, cols, draw, alpha):
    data = []
    cells = []
    for i in range(rows):
        row = []
        for j in range(cols):
            y = draw(i, j)
            data += [(i, j, v) for v in y]
            cell = {"n": int(len(y)), "mean": f(np.mean(y)), "sd": f(np.std(y, ddof=1))}
            if set(np.unique(y)) <= {0.0, 1.0}:
                cell["users"] = int(len(y))
                cell["conversions"] = int(y.sum())
            row.append(cell)
        cells.append(row)
    df = pd.DataFrame(data, columns=["a", "b", "y"])
    res = smf.ols("y ~ C(a) * C(b)", data=df).fit(cov_type="HC2")
    names = [n for n in res.params.index if ":" in n]
    out = {"name": name, "cells": cells, "alpha": alpha, "df": len(names)}
    if rows == 2 and cols == 2:
        n = names[0]
        ci = res.conf_int(alpha).loc[n]
        out.update({
            "difference": f(res.params[n]), "se": f(res.bse[n]), "z": f(res.tvalues[n]),
            "p_value": f(res.pvalues[n]), "chi2": f(res.tvalues[n] ** 2),
            "ci": pair(ci[0], ci[1]),
        })
    else:
        r = np.zeros((len(names), len(res.params)))
        for k, n in enumerate(names):
            r[k, list(res.params.index).index(n)] = 1.0
        w = res.wald_test(r, use_f=False, scalar=True)
        out.update({"chi2": f(w.statistic), "p_value": f(w.pvalue)})
    return out


def binary_draw(base, effects, interaction, n):
    def draw(i, j):
        p = base + effects[0] * (i > 0) + effects[1] * (j > 0) + interaction * i * j
        return RNG.binomial(1, p, n + RNG.integers(0, n // 5)).astype(float)
    return draw


def revenue_draw(interaction, n):
    def draw(i, j):
        scale = 10 + i + 0.5 * j + interaction * i * j
        return RNG.gamma(1.5, scale / 1.5, n + RNG.integers(0, n // 5))
    return draw


def interaction_cases():
    return [
        interaction_case("2x2 conversion, planted interaction", 2, 2,
                         binary_draw(0.10, (0.01, 0.005), 0.02, 3000), 0.05),
        interaction_case("2x2 conversion, none", 2, 2,
                         binary_draw(0.20, (0.02, 0.0), 0.0, 2000), 0.05),
        interaction_case("2x2 revenue", 2, 2, revenue_draw(1.0, 500), 0.1),
        interaction_case("3x2 revenue", 3, 2, revenue_draw(0.8, 400), 0.05),
        interaction_case("2x3 conversion", 2, 3,
                         binary_draw(0.3, (0.01, 0.01), 0.03, 1500), 0.05),
        interaction_case("3x4 revenue", 3, 4, revenue_draw(0.3, 200), 0.05),
    ]


# --------------------------------------------------------------------------- sequential SRM
mpmath.mp.dps = 50


def log_bf_exact(observed, weights, c):
    total_w = mpmath.fsum(mpmath.mpf(w) for w in weights)
    theta = [mpmath.mpf(w) / total_w for w in weights]
    alpha = [c * t for t in theta]

    def ln_beta(a):
        return mpmath.fsum(mpmath.loggamma(v) for v in a) - mpmath.loggamma(mpmath.fsum(a))

    post = [a + x for a, x in zip(alpha, observed)]
    null = mpmath.fsum(x * mpmath.log(t) for x, t in zip(observed, theta))
    return ln_beta(post) - ln_beta(alpha) - null


def srm_case(observed, weights, c, threshold):
    lbf = log_bf_exact(observed, weights, mpmath.mpf(c))
    p = min(mpmath.mpf(1), mpmath.exp(-lbf))
    probs = np.array(weights, float) / np.sum(weights)
    post = ssrm.sequential_posteriors(np.array([observed]), probs,
                                      dirichlet_concentration=c)[-1]
    return {
        "observed": observed, "weights": weights, "concentration": c, "threshold": threshold,
        "log_bayes_factor": f(lbf), "p_value": f(p), "mismatch": bool(p < threshold),
        "ssrm_log_bayes_factor": f(post["log_bayes_factor"]),
        "ssrm_p_value": f(post["p_value"]),
    }


def srm_cases():
    return [
        srm_case([5000, 5200], [50, 50], 10000, 0.001),
        srm_case([5000, 5050], [50, 50], 10000, 0.001),
        srm_case([505000, 495000], [50, 50], 10000, 0.001),
        srm_case([500400, 499600], [1, 1], 10000, 0.05),
        srm_case([2000, 4100, 3900], [0.2, 0.4, 0.4], 10000, 0.001),
        srm_case([2000, 4100, 3900], [0.2, 0.4, 0.4], 100, 0.001),
        srm_case([120, 80], [1, 1], 1, 0.05),
        srm_case([0, 37], [1, 1], 10000, 0.001),
        srm_case([250_010_000, 249_990_000, 500_000_000], [1, 1, 2], 10000, 0.001),
        srm_case([3, 5, 9, 1], [1, 2, 3, 4], 50, 0.01),
    ]


def main():
    doc = {
        "generated_by": "scripts/stats-reference/network.py",
        "versions": {
            "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "statsmodels": statsmodels.__version__,
            "pandas": pd.__version__, "mpmath": mpmath.__version__,
            "ssrm_test": "0.1.5",
        },
        "clustered": clustered_cases(),
        "switchback": switchback_cases(),
        "interaction": interaction_cases(),
        "srm_sequential": srm_cases(),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")
    for c in doc["srm_sequential"]:
        print(f"srm {c['observed']} c={c['concentration']}: ln BF {c['log_bayes_factor']:.9g} "
              f"(ssrm {c['ssrm_log_bayes_factor']:.9g}), p {c['p_value']:.6g}")


if __name__ == "__main__":
    main()
