//! Plain input structs (per-arm sufficient statistics) and the [`Interval`] output type.
//!
//! The aggregator reads these numbers from ClickHouse (`count()`, `sum(x)`, `sum(x*x)`, …)
//! and passes them in; nothing here does I/O. Constructors never fail: the functions that
//! use a summary validate it and name the arm when something is wrong.

use serde::Serialize;

use crate::error::{check_field_finite, check_field_non_negative, Arm, Result, StatsError};

/// Largest user count accepted (2⁵³, the largest integer every `f64` represents exactly).
pub const MAX_COUNT: u64 = 1 << 53;

/// A binary (conversion) metric in one arm: users exposed and users who converted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ProportionSummary {
    /// Users in the arm (the denominator).
    pub users: u64,
    /// Users who converted at least once (the numerator); at most `users`.
    pub conversions: u64,
}

impl ProportionSummary {
    pub const fn new(users: u64, conversions: u64) -> Self {
        ProportionSummary { users, conversions }
    }

    /// The conversion rate, or `None` without users.
    pub fn rate(&self) -> Option<f64> {
        (self.users > 0).then(|| self.conversions as f64 / self.users as f64)
    }

    /// Checks the counts (0 < users ≤ 2⁵³, conversions ≤ users) and returns `(users, rate)`.
    /// The upper bound keeps counts exact as `f64` and sums of two arms free of overflow.
    pub(crate) fn checked(&self, arm: Arm) -> Result<(f64, f64)> {
        if self.users == 0 {
            return Err(StatsError::ZeroUsers { arm });
        }
        if self.users > MAX_COUNT {
            return Err(StatsError::InvalidField {
                arm,
                field: "users",
                value: self.users as f64,
                expected: "at most 2^53",
            });
        }
        if self.conversions > self.users {
            return Err(StatsError::ConversionsExceedUsers {
                arm,
                users: self.users,
                conversions: self.conversions,
            });
        }
        let n = self.users as f64;
        Ok((n, self.conversions as f64 / n))
    }
}

/// A continuous metric in one arm (revenue per user, sessions per user, …): the number of
/// units, the mean and the sample standard deviation (denominator n − 1).
///
/// Stored as mean and standard deviation rather than raw sums so that summaries given as
/// mean/sd keep full precision; [`MeanSummary::from_sums`] converts `(n, Σx, Σx²)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MeanSummary {
    /// Number of units (users) in the arm.
    pub n: u64,
    /// Sample mean.
    pub mean: f64,
    /// Sample standard deviation (with n − 1 in the denominator).
    pub sd: f64,
}

impl MeanSummary {
    /// From n, mean and sample standard deviation.
    pub const fn new(n: u64, mean: f64, sd: f64) -> Self {
        MeanSummary { n, mean, sd }
    }

    /// From the sufficient statistics `n`, `Σx` and `Σx²` (as ClickHouse returns them).
    ///
    /// The variance `(Σx² − (Σx)²/n)/(n − 1)` is clamped at 0 against rounding. When the
    /// mean is large relative to the standard deviation this formula loses precision; prefer
    /// [`MeanSummary::new`] with `avg`/`stddevSamp` from the database in that case. With
    /// `n = 0` the summary is all zeros and with `n = 1` the sd is 0; the functions using
    /// it reject both (a standard deviation needs two observations).
    pub fn from_sums(n: u64, sum: f64, sum_sq: f64) -> Self {
        if n == 0 {
            return MeanSummary::default();
        }
        let nf = n as f64;
        let mean = sum / nf;
        let sd = if n > 1 {
            ((sum_sq - sum * mean) / (nf - 1.0)).max(0.0).sqrt()
        } else {
            0.0
        };
        MeanSummary { n, mean, sd }
    }

    /// Checks the summary (n ≥ 2, finite mean, finite non-negative sd) and returns
    /// `(n, mean, variance of the mean)`.
    pub(crate) fn checked(&self, arm: Arm) -> Result<(f64, f64, f64)> {
        if self.n < 2 {
            return Err(StatsError::TooFewObservations {
                arm,
                n: self.n,
                min: 2,
            });
        }
        let mean = check_field_finite(arm, "mean", self.mean)?;
        let sd = check_field_non_negative(arm, "sd", self.sd)?;
        let n = self.n as f64;
        Ok((n, mean, sd * sd / n))
    }
}

/// A ratio metric in one arm, such as revenue per order, where both numerator and
/// denominator vary per user: `ratio = Σnum / Σden`. The unit of randomisation (user) is
/// the unit of the sums, so the delta method needs the per-user sums of squares and the
/// cross product.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RatioSummary {
    /// Number of users in the arm.
    pub n: u64,
    /// Σ numerator over users (e.g. total revenue).
    pub sum_num: f64,
    /// Σ denominator over users (e.g. total orders).
    pub sum_den: f64,
    /// Σ numerator² over users.
    pub sum_num_sq: f64,
    /// Σ denominator² over users.
    pub sum_den_sq: f64,
    /// Σ numerator·denominator over users.
    pub sum_num_den: f64,
}

/// Validated moments of a [`RatioSummary`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct RatioMoments {
    pub ratio: f64,
    /// Delta-method variance of the ratio estimate.
    pub variance: f64,
}

impl RatioSummary {
    /// Checks the summary and returns the ratio and its delta-method variance
    /// `(s²_num − 2·R·s_num,den + R²·s²_den) / (n·mean_den²)` with sample (n − 1) moments.
    pub(crate) fn moments(&self, arm: Arm) -> Result<RatioMoments> {
        let RatioSums {
            num: sum_num,
            den: sum_den,
            num_sq: sum_num_sq,
            den_sq: sum_den_sq,
            num_den: sum_num_den,
        } = checked_ratio_sums(
            arm,
            self.n,
            [
                self.sum_num,
                self.sum_den,
                self.sum_num_sq,
                self.sum_den_sq,
                self.sum_num_den,
            ],
        )?;
        let n = self.n as f64;
        let mean_num = sum_num / n;
        let mean_den = sum_den / n;
        let var_num = ((sum_num_sq - sum_num * mean_num) / (n - 1.0)).max(0.0);
        let var_den = ((sum_den_sq - sum_den * mean_den) / (n - 1.0)).max(0.0);
        let cov = (sum_num_den - sum_num * mean_den) / (n - 1.0);
        let ratio = sum_num / sum_den;
        let variance = ((var_num - 2.0 * ratio * cov + ratio * ratio * var_den)
            / (n * mean_den * mean_den))
            .max(0.0);
        Ok(RatioMoments { ratio, variance })
    }
}

/// The sums of a ratio metric over its rows (users, or clusters), checked by
/// [`checked_ratio_sums`].
pub(crate) struct RatioSums {
    /// Σ numerator.
    pub num: f64,
    /// Σ denominator (non-zero).
    pub den: f64,
    /// Σ numerator².
    pub num_sq: f64,
    /// Σ denominator².
    pub den_sq: f64,
    /// Σ numerator·denominator.
    pub num_den: f64,
}

/// Checks the sums `[Σnum, Σden, Σnum², Σden², Σnum·den]` of a ratio over `rows` rows (users
/// of a [`RatioSummary`], clusters of a [`crate::ClusterSummary`]): at least two rows, finite
/// sums, non-negative squares and a non-zero denominator.
pub(crate) fn checked_ratio_sums(arm: Arm, rows: u64, sums: [f64; 5]) -> Result<RatioSums> {
    if rows < 2 {
        return Err(StatsError::TooFewObservations {
            arm,
            n: rows,
            min: 2,
        });
    }
    let [num, den, num_sq, den_sq, num_den] = sums;
    let sums = RatioSums {
        num: check_field_finite(arm, "numerator sum", num)?,
        den: check_field_finite(arm, "denominator sum", den)?,
        num_sq: check_field_non_negative(arm, "numerator sum of squares", num_sq)?,
        den_sq: check_field_non_negative(arm, "denominator sum of squares", den_sq)?,
        num_den: check_field_finite(arm, "numerator-denominator cross sum", num_den)?,
    };
    if sums.den == 0.0 {
        return Err(StatsError::InvalidField {
            arm,
            field: "denominator sum",
            value: sums.den,
            expected: "non-zero",
        });
    }
    Ok(sums)
}

/// A two-sided interval `[low, high]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub const fn new(low: f64, high: f64) -> Self {
        Interval { low, high }
    }

    /// `estimate ± half_width`.
    pub(crate) fn around(estimate: f64, half_width: f64) -> Self {
        Interval {
            low: estimate - half_width,
            high: estimate + half_width,
        }
    }

    /// Whether `x` lies in the closed interval.
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// `high − low`.
    pub fn width(&self) -> f64 {
        self.high - self.low
    }

    /// Whether the interval excludes 0 (a "significant" difference).
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }

    pub(crate) fn checked(self, what: &'static str) -> Result<Self> {
        Ok(Interval {
            low: crate::error::finite(what, self.low)?,
            high: crate::error::finite(what, self.high)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_summary_from_sums_matches_mean_sd() {
        // x = 1, 2, 3, 4: mean 2.5, sd sqrt(5/3)
        let s = MeanSummary::from_sums(4, 10.0, 30.0);
        assert_eq!(s.n, 4);
        assert!((s.mean - 2.5).abs() < 1e-15);
        assert!((s.sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(MeanSummary::from_sums(0, 0.0, 0.0), MeanSummary::default());
        assert_eq!(MeanSummary::from_sums(1, 3.0, 9.0).sd, 0.0);
    }

    #[test]
    fn proportion_checks_name_the_arm() {
        let e = ProportionSummary::new(10, 12)
            .checked(Arm::Control)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "conversions (12) exceed users (10) in control"
        );
        let e = ProportionSummary::new(0, 0)
            .checked(Arm::Treatment)
            .unwrap_err();
        assert_eq!(e.to_string(), "zero users in treatment");
        assert_eq!(ProportionSummary::new(0, 0).rate(), None);
        let e = ProportionSummary::new(u64::MAX, 1)
            .checked(Arm::Control)
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("control users must be at most 2^53"),
            "{e}"
        );
        assert_eq!(ProportionSummary::new(4, 1).rate(), Some(0.25));
    }

    #[test]
    fn mean_checks() {
        assert!(MeanSummary::new(1, 1.0, 1.0).checked(Arm::Control).is_err());
        assert!(MeanSummary::new(5, f64::NAN, 1.0)
            .checked(Arm::Control)
            .is_err());
        let e = MeanSummary::new(5, 1.0, -1.0)
            .checked(Arm::Treatment)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "treatment sd must be non-negative and finite, got -1"
        );
    }

    #[test]
    fn ratio_moments_of_constant_ratio_have_zero_variance() {
        // every user: 2 orders, revenue 10 → ratio exactly 5 for everyone
        let s = RatioSummary {
            n: 3,
            sum_num: 30.0,
            sum_den: 6.0,
            sum_num_sq: 300.0,
            sum_den_sq: 12.0,
            sum_num_den: 60.0,
        };
        let m = s.moments(Arm::Control).unwrap();
        assert_eq!(m.ratio, 5.0);
        assert!(m.variance.abs() < 1e-12);
        let zero_den = RatioSummary { sum_den: 0.0, ..s };
        assert!(zero_den.moments(Arm::Control).is_err());
    }
}
