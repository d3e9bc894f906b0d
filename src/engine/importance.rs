//! Importance sampling of the global factor, in the spirit of Glasserman
//! and Li (2005), "Importance sampling for portfolio credit risk".
//!
//! A pool runs dry when the global factor is bad in one or more years. Under
//! importance sampling the default years' innovations of the global factor,
//! `eta = (eta_1, ..., eta_H)`, are drawn from a mixture of normals
//! `sum_k p_k N(m_k, I)` instead of `N(0, I)`, and every path carries its
//! likelihood ratio `phi(eta) / sum_k p_k phi(eta - m_k)` as its weight;
//! every figure is then the weighted estimate (unbiased; see `stats`).
//!
//! **The shifts.** Let `M` be the money the pool can ever pay (its initial
//! balance and every top-up). Glasserman and Li shift the factor to where
//! the event becomes typical. Over several years the pool can run dry in
//! several ways: one very bad year, or two, or every year moderately bad;
//! one shift serves one of them and gives the others huge weights. So for
//! each set `S` of default years (every non-empty set up to
//! [`ALL_SUBSETS_UP_TO`] years; beyond, all years and every run of 1 to 3
//! consecutive years) riskpool finds `z_S`, the level at which the
//! conditional expected claims over the horizon, with the global factor at
//! `z_S` in the years of `S` and at 0 in the others (sector factors at 0, the
//! t copula's mixing variable at 1, pinned years at their pin), equal `M`,
//! and the innovations' means `m_S` that put the factor there (with
//! `factor_persistence` phi, `m_t = (z_S - phi Z_(t-1)) / sqrt(1 - phi^2)`).
//! The [`MAX_COMPONENTS`] most likely points (smallest `|m_S|^2 / 2`) make the
//! mixture; half of the probability goes in proportion to their likelihood
//! `exp(-|m_S|^2 / 2)`, half evenly; and a defensive component (Hesterberg
//! 1995), no shift at all, takes [`DEFENSIVE`] of the probability, so no
//! weight exceeds `1 / DEFENSIVE` and the figures of ordinary paths (means,
//! medians) keep honest, bounded errors. A pilot then tries the scales
//! [`SCALES`] of all shifts, each on [`PILOT_BATCHES`] batches of its own
//! random streams, and keeps the one whose estimated relative second moment
//! of the depletion indicator is smallest (among those with at least
//! [`PILOT_MIN_HITS`] depleted paths). The pilot's streams are fixed by the
//! seed, so the choice, and every result, depends only on the scenario and
//! the seed: the same at any thread count and in every shard.
//!
//! **auto** uses importance sampling when the pilot estimates the depletion
//! probability below [`RARE`] and a variance reduction of at least
//! [`AUTO_MIN_REDUCTION`] for it; otherwise plain sampling.
//!
//! **What is not shifted.** Sector factors (the global factor drives the
//! pool's tail; a sector's shock is captured by its share of the claims),
//! and the t copula's mixing variable: a heavy tail comes from small values
//! of the chi-square variable, and a shift of the global factor already puts
//! the paths where the claims are large; tilting the mixing variable as well
//! would need its own pilot and weights that blow up with few degrees of
//! freedom. Conditional default probabilities are not exponentially twisted
//! (Glasserman and Li's second step): at each shift the conditional
//! expected claims already reach `M`, where the optimal twist is zero, and a
//! twist per loan would break the one-Binomial-per-group draw. The reported
//! variance reduction says how much the factor shift alone achieves.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rayon::prelude::*;

use super::path::{Mixture, Workspace};
use super::{BATCH_PATHS, thread_count, thread_pool};
use crate::error::Error;
use crate::math::norm_cdf;
use crate::model::{Model, analytic};
use crate::scenario::Method;

/// Scales of the shifts the pilot tries.
pub const SCALES: [f64; 5] = [0.5, 0.75, 1.0, 1.25, 1.5];
/// The index of 1 in [`SCALES`].
const UNSCALED: usize = 2;
/// Horizons up to this many years get a component for every set of years.
pub const ALL_SUBSETS_UP_TO: usize = 5;
/// Probability of the mixture's unshifted (defensive) component.
pub const DEFENSIVE: f64 = 0.2;
/// Most shifted components of the mixture.
pub const MAX_COMPONENTS: usize = 32;
/// Batches of [`BATCH_PATHS`] paths the pilot runs per scale.
pub const PILOT_BATCHES: u64 = 2;
/// First random stream of the pilot (far above any run's batch index).
pub const PILOT_STREAM: u64 = 1 << 63;
/// Depleted paths a scale needs in the pilot to be considered.
pub const PILOT_MIN_HITS: u64 = 10;
/// `auto` samples by importance below this depletion probability.
pub const RARE: f64 = 0.01;
/// ... and when the pilot estimates at least this variance reduction.
pub const AUTO_MIN_REDUCTION: f64 = 2.0;
/// The shift level `z*` is searched in `[-Z_LIMIT, Z_LIMIT]`.
pub const Z_LIMIT: f64 = 8.0;

/// How a run samples, decided before it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Whether the run samples by importance.
    pub importance: bool,
    /// The mixture the global factor's innovations are drawn from (empty
    /// for plain sampling).
    pub mixture: Mixture,
    /// What the pilot found, when one ran.
    pub pilot: Option<Pilot>,
}

/// The pilot's findings.
#[derive(Clone, Debug, PartialEq)]
pub struct Pilot {
    /// Components of the mixture (0 when no shock of the global factor
    /// makes the conditional expected claims reach the pool's money).
    pub components: usize,
    /// The scale of the shifts kept.
    pub scale: f64,
    /// Paths the pilot ran, all scales together.
    pub paths: u64,
    /// Its estimate of the depletion probability at the kept scale.
    pub probability: f64,
    /// Its estimate of the variance reduction for that probability.
    pub variance_reduction: Option<f64>,
}

/// Conditional expected claims over the horizon, as a function of the
/// global factor's level in the unpinned years.
pub struct ConditionalClaims {
    /// Per group and default year: the expected claims of the group's loans
    /// active in that year if each defaulted (0 when inactive).
    weights: Vec<Vec<f64>>,
}

impl ConditionalClaims {
    /// Precomputes the per-group claims of `model`.
    pub fn new(model: &Model) -> Self {
        let h = model.horizon;
        let weights = model
            .groups
            .iter()
            .map(|g| {
                let mut w = vec![0.0; h];
                for &i in &g.loans {
                    let i = i as usize;
                    let (_, claim) = analytic::per_default(model, i);
                    let loan = &model.portfolio.loans[i];
                    let mut alive = 1.0;
                    for (t, wt) in w.iter_mut().enumerate() {
                        if g.active_in(t) {
                            *wt += alive * claim;
                        }
                        if !loan.renew {
                            alive *= 1.0 - loan.pd;
                        }
                    }
                }
                w
            })
            .collect();
        Self { weights }
    }

    /// Expected claims over the horizon with the global factor at `z` in
    /// the years of `years` that a stress does not pin, at its pin in pinned
    /// years and at 0 in the others (sector factors at 0, `sqrt(W) = 1`).
    pub fn at(&self, model: &Model, years: &[bool], z: f64) -> f64 {
        let sectors = vec![0.0; model.factors.sector_factors];
        let mut total = 0.0;
        for t in 0..model.horizon {
            let zt = match model.factors.pins[t] {
                Some(pin) => pin,
                None if years[t] => z,
                None => 0.0,
            };
            for (g, w) in model.groups.iter().zip(&self.weights) {
                if w[t] > 0.0 {
                    total += w[t] * norm_cdf(g.argument(zt, &sectors, 1.0));
                }
            }
        }
        total
    }

    /// The level `z` of the global factor in the years of `years` at which
    /// the conditional expected claims equal `money`, within `[-Z_LIMIT,
    /// Z_LIMIT]` (clamped to an end when they cross outside it); None when
    /// even `-Z_LIMIT` does not bring them to `money`.
    pub fn level(&self, model: &Model, years: &[bool], money: f64) -> Option<f64> {
        let f = |z: f64| self.at(model, years, z) - money;
        if f(-Z_LIMIT) < 0.0 {
            return None;
        }
        if f(Z_LIMIT) >= 0.0 {
            return Some(Z_LIMIT);
        }
        // f decreases in z: more defaults when the global factor is low.
        let (mut lo, mut hi) = (-Z_LIMIT, Z_LIMIT);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if f(mid) >= 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(0.5 * (lo + hi))
    }
}

/// The innovations' means that put the global factor at `z` in the years
/// of `years` and leave it to its own course in the others (pinned years
/// get no shift): with persistence phi, `m_t = (z - phi Z_(t-1)) /
/// sqrt(1 - phi^2)` where the path should be at `z`, and 0 elsewhere.
pub fn shift_to(model: &Model, years: &[bool], z: f64) -> Vec<f64> {
    let phi = model.factors.persistence;
    let keep = (1.0 - phi * phi).sqrt();
    let mut prev = 0.0;
    (0..model.horizon)
        .map(|t| match model.factors.pins[t] {
            Some(pin) => {
                prev = pin;
                0.0
            }
            None if years[t] => {
                let m = if t == 0 { z } else { (z - phi * prev) / keep };
                prev = z;
                m
            }
            None => {
                prev *= phi;
                0.0
            }
        })
        .collect()
}

/// The sets of default years whose joint shock the mixture covers: every
/// non-empty set up to [`ALL_SUBSETS_UP_TO`] years; beyond, all years and
/// every run of 1, 2 or 3 consecutive years.
fn year_sets(h: usize) -> Vec<Vec<bool>> {
    if h <= ALL_SUBSETS_UP_TO {
        return (1u32..(1 << h))
            .map(|mask| (0..h).map(|t| mask & (1 << t) != 0).collect())
            .collect();
    }
    let mut sets = vec![vec![true; h]];
    for len in 1..=3 {
        for start in 0..=(h - len) {
            sets.push((0..h).map(|t| t >= start && t < start + len).collect());
        }
    }
    sets
}

/// The shifts toward every way the pool can run dry, with their mixture
/// probabilities, before scaling (see the module documentation); empty when
/// no shock of the global factor brings the expected claims to the pool's
/// money.
pub fn dominating_shifts(model: &Model) -> Vec<(f64, Vec<f64>)> {
    let money = model.scenario.pool_resources();
    let claims = ConditionalClaims::new(model);
    let mut points: Vec<(f64, Vec<f64>)> = year_sets(model.horizon)
        .iter()
        .filter_map(|years| {
            let z = claims.level(model, years, money)?;
            let shift = shift_to(model, years, z);
            let cost = 0.5 * shift.iter().map(|m| m * m).sum::<f64>();
            Some((cost, shift))
        })
        .collect();
    // The most likely points first (smallest cost), at most MAX_COMPONENTS.
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points.dedup_by(|a, b| a.1 == b.1);
    points.truncate(MAX_COMPONENTS);
    let Some(min_cost) = points.first().map(|p| p.0) else {
        return Vec::new();
    };
    // Probabilities: half in proportion to each point's likelihood, half
    // evenly, so that no way of running dry is left uncovered.
    let like: Vec<f64> = points.iter().map(|p| (min_cost - p.0).exp()).collect();
    let total: f64 = like.iter().sum();
    let k = points.len() as f64;
    let h = model.horizon;
    // The defensive component: plain sampling itself, so that no weight
    // exceeds 1 / DEFENSIVE and the figures of ordinary paths stay sound.
    std::iter::once((DEFENSIVE, vec![0.0; h]))
        .chain(
            points
                .into_iter()
                .zip(like)
                .map(|((_, shift), l)| ((1.0 - DEFENSIVE) * (0.5 * l / total + 0.5 / k), shift)),
        )
        .collect()
}

/// `components` with every shift multiplied by `scale`.
fn scaled(components: &[(f64, Vec<f64>)], scale: f64) -> Mixture {
    Mixture::new(
        components
            .iter()
            .map(|(p, shift)| (*p, shift.iter().map(|m| m * scale).collect()))
            .collect(),
    )
}

/// Runs the pilot for each scale of the mixture: per scale, `(hits, sum w
/// 1_A, sum w^2 1_A)` over its paths, `A` the pool running dry.
fn pilot(
    model: &Model,
    seed: u64,
    components: &[(f64, Vec<f64>)],
    threads: Option<usize>,
) -> Result<Vec<(u64, f64, f64)>, Error> {
    let pool = thread_pool(thread_count(threads))?;
    Ok(pool.install(|| {
        SCALES
            .par_iter()
            .enumerate()
            .map(|(c, &scale)| {
                let mut ws = Workspace::new(model);
                ws.set_mixture(&scaled(components, scale));
                let (mut hits, mut s1, mut s2) = (0u64, 0.0, 0.0);
                for j in 0..PILOT_BATCHES {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    rng.set_stream(PILOT_STREAM + c as u64 * PILOT_BATCHES + j);
                    for _ in 0..BATCH_PATHS {
                        ws.simulate(model, &mut rng);
                        if ws.out.depleted.iter().any(|&d| d) {
                            let w = ws.weight();
                            hits += 1;
                            s1 += w;
                            s2 += w * w;
                        }
                    }
                }
                (hits, s1, s2)
            })
            .collect()
    }))
}

/// Decides how a run of `model` with `seed` samples (see the module
/// documentation).
pub fn plan(model: &Model, seed: u64, threads: Option<usize>) -> Result<Plan, Error> {
    let method = model.scenario.method;
    let plain = Plan {
        importance: false,
        mixture: Mixture::default(),
        pilot: None,
    };
    if method == Method::Plain {
        return Ok(plain);
    }
    let components = dominating_shifts(model);
    if components.is_empty() {
        // No shock of the global factor brings the expected claims to the
        // pool's money: a shift has nothing to aim at.
        let pilot = Pilot {
            components: 0,
            scale: 0.0,
            paths: 0,
            probability: 0.0,
            variance_reduction: None,
        };
        return Ok(Plan {
            importance: method == Method::Importance,
            pilot: Some(pilot),
            ..plain
        });
    }
    let sums = pilot(model, seed, &components, threads)?;
    let n = (PILOT_BATCHES * BATCH_PATHS) as f64;
    let relative = |&(hits, s1, s2): &(u64, f64, f64)| {
        if hits < PILOT_MIN_HITS || s1 <= 0.0 {
            f64::INFINITY
        } else {
            (s2 / n) / (s1 / n).powi(2)
        }
    };
    // The scale with the smallest relative second moment; the unscaled
    // mixture when none has enough hits.
    let mut best = UNSCALED;
    for c in 0..SCALES.len() {
        if relative(&sums[c]) < relative(&sums[best]) {
            best = c;
        }
    }
    let (_, s1, s2) = sums[best];
    let p = s1 / n;
    let var = s2 / n - p * p;
    let reduction = (p > 0.0 && var > 0.0).then(|| p * (1.0 - p) / var);
    let pilot = Pilot {
        components: components.len(),
        scale: SCALES[best],
        paths: PILOT_BATCHES * BATCH_PATHS * SCALES.len() as u64,
        probability: p,
        variance_reduction: reduction,
    };
    let importance = match method {
        Method::Importance => true,
        Method::Auto => p < RARE && reduction.is_some_and(|r| r >= AUTO_MIN_REDUCTION),
        Method::Plain => false,
    };
    Ok(Plan {
        importance,
        mixture: if importance {
            scaled(&components, SCALES[best])
        } else {
            Mixture::default()
        },
        pilot: Some(pilot),
    })
}
