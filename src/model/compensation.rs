//! Who pays what for one defaulted loan: the pool's share (flat or by size
//! tier, plus bonuses, capped), the per-loan claim cap, the insurer's and the
//! guarantor's shares. Pure functions of the loan and the rules.

use crate::model::portfolio::Loan;
use crate::scenario::{Basis, Compensation, ShareRule};

/// The pool's share of a loan's loss basis: the flat share or the first tier
/// whose `up_to` is at least the exposure (0 above the last tier), plus the
/// loan's bonuses, capped at `max_pool_share`.
pub fn pool_share(rules: &Compensation, loan: &Loan) -> f64 {
    let base = match &rules.share {
        ShareRule::Flat(s) => *s,
        ShareRule::Tiers(tiers) => tiers
            .iter()
            .find(|(up_to, _)| loan.exposure <= *up_to)
            .map_or(0.0, |t| t.1),
    };
    let mut share = base;
    if loan.first_loan {
        share += rules.first_loan_bonus;
    }
    if loan.key_list {
        share += rules.key_list_bonus;
    }
    if loan.policy_tool {
        share += rules.policy_tool_bonus;
    }
    share.min(rules.max_pool_share)
}

/// Whether a loan falls above the last size tier (and so gets no share).
pub fn above_last_tier(rules: &Compensation, loan: &Loan) -> bool {
    match &rules.share {
        ShareRule::Flat(_) => false,
        ShareRule::Tiers(tiers) => tiers.last().is_some_and(|t| loan.exposure > t.0),
    }
}

/// The loss basis of a defaulted loan with loss-given-default `lgd`.
#[inline]
pub fn basis_amount(basis: Basis, exposure: f64, lgd: f64) -> f64 {
    match basis {
        Basis::PrincipalLoss => exposure * lgd,
        Basis::OutstandingPrincipal => exposure,
    }
}

/// The loan's own claim on the pool: its share of the basis, capped per loan.
#[inline]
pub fn own_claim(share: f64, basis: f64, cap: f64) -> f64 {
    (share * basis).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Lgd;

    fn loan(exposure: f64) -> Loan {
        Loan {
            exposure,
            pd: 0.02,
            lgd: Lgd::Fixed(0.6),
            correlation: 0.1,
            sector: None,
            term_years: 1,
            renew: true,
            bank: 0,
            segment: 0,
            first_loan: false,
            key_list: false,
            policy_tool: false,
        }
    }

    fn rules(share: ShareRule) -> Compensation {
        Compensation {
            basis: Basis::PrincipalLoss,
            share,
            first_loan_bonus: 0.05,
            key_list_bonus: 0.15,
            policy_tool_bonus: 0.05,
            max_pool_share: 0.5,
            max_claim_per_loan: None,
            suspend_above_npl_ratio: None,
            bank_annual_cap_ratio: None,
            recoveries_return_to_pool: false,
            recovery_lag_years: 1,
        }
    }

    #[test]
    fn tiers_bonuses_and_cap() {
        let r = rules(ShareRule::Tiers(vec![(5e6, 0.4), (15e6, 0.3), (30e6, 0.2)]));
        assert_eq!(pool_share(&r, &loan(5e6)), 0.4);
        assert_eq!(pool_share(&r, &loan(5e6 + 1.0)), 0.3);
        assert_eq!(pool_share(&r, &loan(31e6)), 0.0);
        assert!(above_last_tier(&r, &loan(31e6)));
        let mut l = loan(1e6);
        l.key_list = true;
        l.policy_tool = true;
        // 0.4 + 0.15 + 0.05 = 0.6, capped at 0.5.
        assert_eq!(pool_share(&r, &l), 0.5);
        let mut l = loan(20e6);
        l.key_list = true;
        assert!((pool_share(&r, &l) - 0.35).abs() < 1e-15);
    }

    #[test]
    fn claim_is_capped_per_loan() {
        assert_eq!(
            own_claim(0.5, basis_amount(Basis::PrincipalLoss, 20e6, 0.6), 5e6),
            5e6
        );
        assert_eq!(
            own_claim(
                0.5,
                basis_amount(Basis::OutstandingPrincipal, 4e6, 0.6),
                5e6
            ),
            2e6
        );
    }
}
