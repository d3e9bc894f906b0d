//! The default-dependence model: systematic factors, the copula, and the
//! conditional default probability of a group of like loans.
//!
//! Loan i defaults in year t iff `sqrt(W_t) X_i,t < c_i`, where
//! `X = a_g Z_g + a_s Z_s + sqrt(1 - a_g^2 - a_s^2) eps`, `c_i` is
//! `Phi^-1(PD)` (Gaussian copula, `W = 1`) or `t_nu^-1(PD)` (t copula,
//! `W = nu / chi2_nu`, one per year and path). Given the factors, defaults
//! are independent with probability
//! `Phi((c / sqrt(W) - a_g Z_g - a_s Z_s) / sqrt(1 - a_g^2 - a_s^2))`.

use crate::engine::sampler::BinomialTable;
use crate::math::norm_cdf;
use crate::scenario::Copula;

/// The systematic factors and the copula.
#[derive(Clone, Debug, PartialEq)]
pub struct Factors {
    /// Gaussian or Student-t.
    pub copula: Copula,
    /// Persistence `phi`: `Z_t = phi Z_t-1 + sqrt(1 - phi^2) eta_t`.
    pub persistence: f64,
    /// Number of sector factors (besides the global one).
    pub sector_factors: usize,
    /// Per default year: the global factor's pinned value, if a stress pins it.
    pub pins: Vec<Option<f64>>,
}

/// How the engine visits a group's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GroupKind {
    /// Every loan has the same terms: only the number of defaults matters.
    Uniform,
    /// One bank, one segment, fixed LGDs: the defaulted loans' precomputed
    /// figures ([`Group::figures`]) are summed in the group.
    Simple {
        /// The (bank, segment) pair of every loan (see `Model::pairs`).
        pair: u32,
        /// The bank of every loan.
        bank: u32,
    },
    /// One bank, one segment, one fixed LGD, one share and one cap: the
    /// loans differ only in size. A defaulted loan's figures follow from
    /// its exposure and its own claim ([`Group::amounts`]), so the hot loop
    /// reads 16 bytes per default; when no loan reaches the cap, only the
    /// exposures ([`Group::exposures`], 8 bytes per default), and the
    /// group's claim is `rate` times its defaulted exposure.
    Linear {
        /// The (bank, segment) pair of every loan.
        pair: u32,
        /// The bank of every loan.
        bank: u32,
        /// The loss given default.
        lgd: f64,
        /// Claim per unit of exposure before the cap: share x LGD on the
        /// principal-loss basis, the share on outstanding principal.
        rate: f64,
        /// The per-loan cap on claims (infinite when none).
        cap: f64,
        /// Whether some loan's claim reaches the cap.
        capped: bool,
    },
    /// Anything else: each defaulted loan is booked on its own.
    General,
}

/// A defaulted loan's figures when its LGD is fixed, precomputed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(32))]
pub struct Figures {
    /// Principal loss, exposure x LGD.
    pub loss: f64,
    /// Its own claim on the pool (share x basis, capped).
    pub claim: f64,
    /// What the claim recovers if paid in full, claim x (1 - LGD).
    pub recovery: f64,
    /// Exposure (defaulted principal).
    pub exposure: f64,
}

/// Loans whose conditional default probability is the same function of the
/// factors (same PD, loadings, renewal and, when not renewed, term).
#[derive(Debug)]
pub struct Group {
    /// Annual PD.
    pub pd: f64,
    /// Default threshold `c` on the latent variable.
    pub threshold: f64,
    /// Loading on the global factor, `sqrt(rho_global)`.
    pub a_global: f64,
    /// Index of the sector factor, if the loans load on one.
    pub sector_factor: Option<usize>,
    /// Loading on the sector factor, `sqrt(rho_sector)`.
    pub a_sector: f64,
    /// `1 / sqrt(1 - rho_global - rho_sector)`.
    pub inv_scale: f64,
    /// Indices of the loans in the portfolio.
    pub loans: Vec<u32>,
    /// Whether loans are replaced after maturity or default.
    pub renew: bool,
    /// Term in years of non-renewed loans (`u32::MAX` when renewed).
    pub term: u32,
    /// How defaults are visited.
    pub kind: GroupKind,
    /// Per loan of the group (same order as `loans`): its figures when its
    /// LGD is fixed (a placeholder for a Beta LGD, drawn at default).
    pub figures: Vec<Figures>,
    /// Per loan of a capped [`GroupKind::Linear`] group: its exposure and
    /// its own claim, `(rate x exposure).min(cap)`, side by side (empty
    /// otherwise).
    pub amounts: Vec<[f64; 2]>,
    /// Per loan of an uncapped [`GroupKind::Linear`] group: its exposure
    /// (8 bytes a loan: large groups' selections stay in cache; empty
    /// otherwise).
    pub exposures: Vec<f64>,
    /// The exact table sampler of the number of defaults (renewed groups).
    pub sampler: Option<BinomialTable>,
}

impl Group {
    /// The argument `x` of the conditional default probability `Phi(x)`,
    /// given the global factor `z`, the sector factors and `sqrt(W)` (1 for
    /// the Gaussian copula).
    #[inline]
    pub fn argument(&self, z: f64, sectors: &[f64], sqrt_w: f64) -> f64 {
        let zs = self
            .sector_factor
            .map_or(0.0, |k| self.a_sector * sectors[k]);
        // The Gaussian copula's `sqrt(W)` is 1: skip the division (same value).
        let c = if sqrt_w == 1.0 {
            self.threshold
        } else {
            self.threshold / sqrt_w
        };
        (c - self.a_global * z - zs) * self.inv_scale
    }

    /// Default probability given the factors (see [`Group::argument`]).
    #[inline]
    pub fn conditional_pd(&self, z: f64, sectors: &[f64], sqrt_w: f64) -> f64 {
        norm_cdf(self.argument(z, sectors, sqrt_w))
    }

    /// Whether the group's loans are active in default year `t` (0-based).
    #[inline]
    pub fn active_in(&self, t: usize) -> bool {
        self.renew || (t as u64) < u64::from(self.term)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::norm_inv;

    #[test]
    fn conditional_pd_averages_to_the_pd() {
        // E[p(Z)] = PD: integrate over a dense grid.
        let rho: f64 = 0.15;
        let g = Group {
            pd: 0.02,
            threshold: norm_inv(0.02),
            a_global: rho.sqrt(),
            sector_factor: None,
            a_sector: 0.0,
            inv_scale: 1.0 / (1.0 - rho).sqrt(),
            loans: vec![],
            renew: true,
            term: u32::MAX,
            kind: GroupKind::Uniform,
            figures: vec![],
            amounts: vec![],
            exposures: vec![],
            sampler: None,
        };
        let n = 4001;
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..n {
            let z = -9.0 + 18.0 * i as f64 / (n - 1) as f64;
            let w = (-0.5 * z * z).exp();
            num += w * g.conditional_pd(z, &[], 1.0);
            den += w;
        }
        assert!((num / den - 0.02).abs() < 1e-12);
    }
}
