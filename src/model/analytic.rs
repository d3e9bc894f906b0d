//! Closed-form expectations, with no simulation: expected principal loss and
//! expected claims (the loans' own shares, per-loan caps applied) by year.
//!
//! They hold for any copula, correlation or factor model, because the mean
//! of a sum is the sum of the means: a loan active in year t defaults with
//! probability PD (times its survival to t when it is not renewed).

use statrs::function::beta::beta_reg;

use super::{LgdKind, Model};
use crate::model::compensation::basis_amount;
use crate::scenario::Basis;

/// Expected figures by default year.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectations {
    /// Expected principal loss (exposure x LGD) per default year.
    pub loss: Vec<f64>,
    /// Expected claims (own pool shares, capped per loan) per default year.
    pub claims: Vec<f64>,
    /// Expected defaults per default year.
    pub defaults: Vec<f64>,
    /// Expected claims by segment over the horizon.
    pub claims_by_segment: Vec<f64>,
    /// Expected loss by segment over the horizon.
    pub loss_by_segment: Vec<f64>,
}

impl Expectations {
    /// Expected loss over the horizon.
    pub fn total_loss(&self) -> f64 {
        self.loss.iter().sum()
    }

    /// Expected claims over the horizon.
    pub fn total_claims(&self) -> f64 {
        self.claims.iter().sum()
    }
}

/// `E[min(a L, cap)]` for `L ~ Beta(alpha, beta)`.
pub fn capped_beta_mean(a: f64, cap: f64, alpha: f64, beta: f64) -> f64 {
    let mean = alpha / (alpha + beta);
    if a <= 0.0 {
        return 0.0;
    }
    let x = cap / a;
    if x >= 1.0 {
        return a * mean;
    }
    // E[L; L < x] = mean * I_x(alpha + 1, beta); P(L >= x) = 1 - I_x(alpha, beta).
    a * mean * beta_reg(alpha + 1.0, beta, x) + cap * (1.0 - beta_reg(alpha, beta, x))
}

/// Loan `i`'s expected LGD and expected own claim (capped) when it
/// defaults.
pub fn per_default(model: &Model, i: usize) -> (f64, f64) {
    let basis = model.scenario.compensation.basis;
    let terms = &model.terms[i];
    match terms.lgd {
        LgdKind::Fixed(lgd) => (
            lgd,
            (terms.share * basis_amount(basis, terms.exposure, lgd)).min(terms.cap),
        ),
        LgdKind::Beta(b) => {
            let (alpha, beta) = model.betas[b];
            let mean = alpha / (alpha + beta);
            let claim = match basis {
                Basis::PrincipalLoss => {
                    capped_beta_mean(terms.share * terms.exposure, terms.cap, alpha, beta)
                }
                Basis::OutstandingPrincipal => (terms.share * terms.exposure).min(terms.cap),
            };
            (mean, claim)
        }
    }
}

/// Expected loss and claims of a model, by default year.
pub fn expectations(model: &Model) -> Expectations {
    let h = model.horizon;
    let mut e = Expectations {
        loss: vec![0.0; h],
        claims: vec![0.0; h],
        defaults: vec![0.0; h],
        claims_by_segment: vec![0.0; model.portfolio.segments.len()],
        loss_by_segment: vec![0.0; model.portfolio.segments.len()],
    };
    for (i, (loan, terms)) in model.portfolio.loans.iter().zip(&model.terms).enumerate() {
        let pd = loan.pd;
        let (mean_lgd, claim) = per_default(model, i);
        let loss = terms.exposure * mean_lgd;
        let years = if loan.renew {
            h
        } else {
            h.min(loan.term_years as usize)
        };
        let mut alive = 1.0;
        for t in 0..years {
            let p = alive * pd;
            e.defaults[t] += p;
            e.loss[t] += p * loss;
            e.claims[t] += p * claim;
            e.loss_by_segment[loan.segment] += p * loss;
            e.claims_by_segment[loan.segment] += p * claim;
            if !loan.renew {
                alive *= 1.0 - pd;
            }
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_beta_mean_limits() {
        // No cap binding: a * mean.
        assert!((capped_beta_mean(10.0, 100.0, 2.0, 3.0) - 4.0).abs() < 1e-12);
        // Cap at zero: nothing.
        assert!(capped_beta_mean(10.0, 0.0, 2.0, 3.0).abs() < 1e-12);
        // Numerical check against a midpoint rule.
        let (a, cap, al, be) = (10.0, 3.0, 2.0, 3.0);
        let n = 200_000;
        let mut s = 0.0;
        let b = statrs::function::beta::beta(al, be);
        for i in 0..n {
            let x = (i as f64 + 0.5) / n as f64;
            let dens = x.powf(al - 1.0) * (1.0 - x).powf(be - 1.0) / b;
            s += (a * x).min(cap) * dens / n as f64;
        }
        assert!((capped_beta_mean(a, cap, al, be) - s).abs() < 1e-6);
    }
}
