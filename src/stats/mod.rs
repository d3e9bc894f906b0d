//! Mergeable accumulators for Monte Carlo estimates, and the summaries
//! (mean, errors, quantiles, expected shortfall, probabilities with Wilson
//! intervals) that the result file reports.
//!
//! Every accumulator merges exactly: counts and weights are integers, sums
//! are [`ExactSum`]s fed once per batch from that batch's `f64` partial sums,
//! and quantile data lives in a [`Sketch`]. A batch's partial sums depend only
//! on the batch, so the merged state, and every figure derived from it, is
//! the same for any thread count or split of the batches into shards.

pub mod contrib;
pub mod sketch;

use serde::{Deserialize, Serialize};

use crate::math::ExactSum;
pub use contrib::Contributions;
pub use sketch::{
    ONE, QUANTILE_RELATIVE_ERROR, SUM_SCALE, Sketch, Weights, fixed_total, fixed_value,
    fixed_weight,
};

/// Quantile levels reported for every statistic, as exact fractions.
pub const QUANTILES: [(u128, u128); 5] = [(1, 2), (9, 10), (19, 20), (99, 100), (999, 1000)];
/// Expected-shortfall levels reported for every statistic.
pub const ES_LEVELS: [(u128, u128); 2] = [(19, 20), (99, 100)];

/// Two-sided 95% normal quantile used by Wilson intervals.
const Z95: f64 = 1.959_963_984_540_054;

/// One path's terms of the weighted moments about `shift`: `[w d, w d^2,
/// (w d)^2]` with `d = v - shift`. Summed path by path in order, they are
/// the partial sums a batch adds ([`StatAcc::add_batch`] and the engine's
/// row-wise fold both use it).
#[inline]
pub fn moment_terms(v: f64, shift: f64, w: f64) -> [f64; 3] {
    let d = v - shift;
    let wd = w * d;
    [wd, wd * d, wd * wd]
}

/// Accumulates one money quantity over paths: weighted moments and a sketch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatAcc {
    /// Values are accumulated as `v - shift`, which keeps the variance free
    /// of cancellation when the values sit far from zero (a pool balance).
    shift: f64,
    /// Sum of `w (v - shift)`.
    s1: ExactSum,
    /// Sum of `w (v - shift)^2`.
    s2: ExactSum,
    /// Sum of `(w (v - shift))^2` (the error of a weighted mean).
    s3: ExactSum,
    sketch: Sketch,
}

impl StatAcc {
    /// A new accumulator whose moments are taken about `shift`.
    pub fn new(shift: f64) -> Self {
        Self {
            shift,
            ..Self::default()
        }
    }

    /// Like [`StatAcc::new`], letting up to `defer` values wait before they
    /// go into the sketch (see [`Sketch::with_defer`]).
    pub fn with_defer(shift: f64, defer: usize) -> Self {
        Self {
            shift,
            sketch: Sketch::with_defer(defer),
            ..Self::default()
        }
    }

    /// Adds one batch of paths: values `values[i]` with likelihood-ratio
    /// weights `weights[i]`. The batch's partial sums go into the exact
    /// totals at once, so the totals depend only on the batches.
    pub fn add_batch(&mut self, values: &[f64], weights: &[f64]) {
        if self.shift == 0.0 && values.iter().all(|&v| v == 0.0) {
            // Nothing to add to the moments; the sketch counts the zeros.
            self.sketch.add_zeros(weights);
            return;
        }
        let (mut s1, mut s2, mut s3) = (0.0, 0.0, 0.0);
        for (&v, &w) in values.iter().zip(weights) {
            let [t1, t2, t3] = moment_terms(v, self.shift, w);
            s1 += t1;
            s2 += t2;
            s3 += t3;
        }
        self.sketch.extend(values, weights);
        self.s1.add(s1);
        self.s2.add(s2);
        self.s3.add(s3);
    }

    /// The value the moments are taken about.
    pub fn shift(&self) -> f64 {
        self.shift
    }

    /// Adds one batch's partial sums of the moments, `[sum w d, sum w d^2,
    /// sum (w d)^2]` with `d = v - shift` (each summed in path order, as
    /// [`StatAcc::add_batch`] does), leaving the sketch to the caller.
    pub fn add_moments(&mut self, partial: [f64; 3]) {
        self.s1.add(partial[0]);
        self.s2.add(partial[1]);
        self.s3.add(partial[2]);
    }

    /// The sketch, for a caller that feeds it itself (with
    /// [`StatAcc::add_moments`] for the moments).
    pub fn sketch_mut(&mut self) -> &mut Sketch {
        &mut self.sketch
    }

    /// Puts deferred values into the sketch; needed before queries and merges.
    pub fn settle(&mut self) {
        self.sketch.settle();
    }

    /// Adds a settled accumulator into this one (settling this one first).
    pub fn merge(&mut self, other: &StatAcc) {
        self.merge_sums(other);
        self.sketch.merge(&other.sketch);
    }

    /// [`StatAcc::merge`] taking the other accumulator by value (its
    /// sketch's chunks are moved where they can be, see
    /// [`Sketch::merge_owned`]).
    pub fn merge_owned(&mut self, other: StatAcc) {
        self.merge_sums(&other);
        self.sketch.merge_owned(other.sketch);
    }

    /// The moments' part of a merge.
    fn merge_sums(&mut self, other: &StatAcc) {
        debug_assert_eq!(self.shift.to_bits(), other.shift.to_bits());
        self.settle();
        self.s1.merge(&other.s1);
        self.s2.merge(&other.s2);
        self.s3.merge(&other.s3);
    }

    /// The estimate of the mean over `paths` paths.
    pub fn mean(&self, paths: u64) -> f64 {
        if paths == 0 {
            return 0.0;
        }
        self.shift + self.s1.value() / paths as f64
    }

    /// The summary reported in the result file.
    pub fn summary(&self, paths: u64) -> Stat {
        let n = paths as f64;
        if paths == 0 {
            return Stat::default();
        }
        let m1 = self.s1.value() / n;
        let m2 = self.s2.value() / n;
        let m3 = self.s3.value() / n;
        let (std_dev, std_error) = if paths < 2 {
            (0.0, None)
        } else {
            let var = (m2 - m1 * m1).max(0.0) * n / (n - 1.0);
            let var_of_mean = (m3 - m1 * m1).max(0.0) / (n - 1.0);
            (var.sqrt(), Some(var_of_mean.sqrt()))
        };
        let total = u128::from(paths) * ONE;
        // One listing of the buckets for every quantile and shortfall.
        let bins = self.sketch.bins();
        let q = |(num, den)| Sketch::quantile_of(&bins, num, den, total).unwrap_or(0.0);
        let es = |(num, den)| Sketch::expected_shortfall_of(&bins, num, den, total).unwrap_or(0.0);
        Stat {
            mean: self.shift + m1,
            std_error,
            std_dev,
            quantiles: Quantiles {
                p50: q(QUANTILES[0]),
                p90: q(QUANTILES[1]),
                p95: q(QUANTILES[2]),
                p99: q(QUANTILES[3]),
                p99_9: q(QUANTILES[4]),
            },
            expected_shortfall: ExpectedShortfall {
                p95: es(ES_LEVELS[0]),
                p99: es(ES_LEVELS[1]),
            },
        }
    }

    /// The sketch behind the quantiles (for charts and contributions).
    pub fn sketch(&self) -> &Sketch {
        &self.sketch
    }
}

/// Accumulates the (weighted) frequency of an event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbAcc {
    #[serde(skip)]
    batch: [f64; 2],
    /// Sum of the weights of the paths where the event happened.
    w1: ExactSum,
    /// Sum of their squared weights.
    w2: ExactSum,
}

impl ProbAcc {
    /// Records that the event happened on a path of weight `w`.
    #[inline]
    pub fn hit(&mut self, w: f64) {
        self.batch[0] += w;
        self.batch[1] += w * w;
    }

    /// Moves the batch's partial sums into the exact totals.
    pub fn flush(&mut self) {
        self.w1.add(self.batch[0]);
        self.w2.add(self.batch[1]);
        self.batch = [0.0; 2];
    }

    /// Adds a flushed accumulator into this one.
    pub fn merge(&mut self, other: &ProbAcc) {
        self.w1.merge(&other.w1);
        self.w2.merge(&other.w2);
    }

    /// The exact sums of the weights and of their squares.
    pub fn sums(&self) -> (f64, f64) {
        (self.w1.value(), self.w2.value())
    }

    /// The estimated probability over `paths` paths.
    pub fn estimate(&self, paths: u64) -> f64 {
        if paths == 0 {
            0.0
        } else {
            self.w1.value() / paths as f64
        }
    }

    /// The summary reported in the result file. `weighted` selects the
    /// standard error of a weighted (importance-sampled) estimate.
    pub fn summary(&self, paths: u64, weighted: bool) -> Probability {
        let n = paths as f64;
        let p = self.estimate(paths);
        if paths < 2 {
            let ci95 = if paths == 1 {
                wilson(p, 1.0)
            } else {
                [0.0, 1.0]
            };
            return Probability {
                estimate: p,
                std_error: None,
                ci95,
            };
        }
        let se = if weighted {
            ((self.w2.value() / n - p * p).max(0.0) / (n - 1.0)).sqrt()
        } else {
            (p * (1.0 - p) / n).max(0.0).sqrt()
        };
        // Wilson's interval on the effective number of paths, which is the
        // number of paths for plain sampling.
        let n_eff = if weighted && se > 0.0 {
            (p * (1.0 - p) / (se * se)).max(1.0)
        } else {
            n
        };
        Probability {
            estimate: p,
            std_error: Some(se),
            ci95: wilson(p.clamp(0.0, 1.0), n_eff),
        }
    }
}

impl Probability {
    /// The probability of the complementary event.
    pub fn complement(&self) -> Probability {
        Probability {
            estimate: 1.0 - self.estimate,
            std_error: self.std_error,
            ci95: [1.0 - self.ci95[1], 1.0 - self.ci95[0]],
        }
    }
}

/// Wilson score interval at 95% for a proportion `p` out of `n` trials.
pub fn wilson(p: f64, n: f64) -> [f64; 2] {
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).max(0.0).sqrt();
    // At p = 0 (or 1) the bound is exactly 0 (or 1); rounding must not move it.
    let lo = if p <= 0.0 {
        0.0
    } else {
        (center - half).max(0.0)
    };
    let hi = if p >= 1.0 {
        1.0
    } else {
        (center + half).min(1.0)
    };
    [lo, hi]
}

/// Summary of a money quantity (the `STAT` object of the result schema).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Estimated mean.
    pub mean: f64,
    /// Standard error of the mean; null with fewer than two paths.
    pub std_error: Option<f64>,
    /// Standard deviation of the quantity.
    pub std_dev: f64,
    /// Quantiles (sketch: at most 0.1% above the sample quantile; exact for atoms).
    pub quantiles: Quantiles,
    /// Expected shortfall (mean of the worst 5% and 1%, boundary counted fractionally).
    pub expected_shortfall: ExpectedShortfall,
}

/// Quantiles of a `Stat`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 90% quantile.
    pub p90: f64,
    /// 95% quantile.
    pub p95: f64,
    /// 99% quantile.
    pub p99: f64,
    /// 99.9% quantile.
    pub p99_9: f64,
}

/// Expected shortfall of a `Stat`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExpectedShortfall {
    /// Mean of the worst 5%.
    pub p95: f64,
    /// Mean of the worst 1%.
    pub p99: f64,
}

/// A probability estimate (the `P` object of the result schema).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Probability {
    /// Estimated probability.
    pub estimate: f64,
    /// Standard error; null with fewer than two paths.
    pub std_error: Option<f64>,
    /// Wilson 95% interval.
    pub ci95: [f64; 2],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_reference() {
        // p = 0.1, n = 100: Wilson 95% interval [0.0552, 0.1744] (Newcombe 1998).
        let [lo, hi] = wilson(0.1, 100.0);
        assert!(
            (lo - 0.055_229).abs() < 1e-5 && (hi - 0.174_366).abs() < 1e-5,
            "{lo} {hi}"
        );
        let [lo, hi] = wilson(0.0, 1000.0);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.003_826).abs() < 1e-5);
    }

    #[test]
    fn moments_match_direct_computation() {
        let values: Vec<f64> = (0..1000)
            .map(|i| 1e9 + ((i * 31) % 97) as f64 * 1e5)
            .collect();
        let mut acc = StatAcc::new(1e9);
        for chunk in values.chunks(100) {
            acc.add_batch(chunk, &vec![1.0; chunk.len()]);
        }
        acc.settle();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let s = acc.summary(values.len() as u64);
        assert!((s.mean - mean).abs() < 1e-6);
        assert!((s.std_dev - var.sqrt()).abs() < 1e-6 * var.sqrt());
        assert!((s.std_error.unwrap() - (var / n).sqrt()).abs() < 1e-6 * var.sqrt());
    }

    #[test]
    fn one_path_has_no_standard_error() {
        let mut acc = StatAcc::new(0.0);
        acc.add_batch(&[5.0], &[1.0]);
        acc.settle();
        let s = acc.summary(1);
        assert_eq!(s.std_error, None);
        assert_eq!(s.mean, 5.0);
        let mut p = ProbAcc::default();
        p.hit(1.0);
        p.flush();
        assert_eq!(p.summary(1, false).std_error, None);
    }

    #[test]
    fn plain_probability_error_is_binomial() {
        let mut p = ProbAcc::default();
        for i in 0..10_000 {
            if i % 50 == 0 {
                p.hit(1.0);
            }
        }
        p.flush();
        let s = p.summary(10_000, false);
        assert!((s.estimate - 0.02).abs() < 1e-15);
        assert!((s.std_error.unwrap() - (0.02f64 * 0.98 / 10_000.0).sqrt()).abs() < 1e-15);
        // The weighted formula agrees closely for unit weights.
        let w = p.summary(10_000, true);
        assert!((w.std_error.unwrap() / s.std_error.unwrap() - 1.0).abs() < 1e-3);
    }
}
