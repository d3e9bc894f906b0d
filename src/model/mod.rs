//! The resolved model the engine simulates: loans grouped by conditional PD,
//! per-loan compensation terms, the factor structure and the pool's rules.
//!
//! Everything here is computed once, before any path is drawn; the engine's
//! hot loop only reads it.

pub mod analytic;
pub mod compensation;
pub mod dependence;
pub mod ledger;
pub mod portfolio;
pub mod tape;

use std::collections::BTreeMap;

use crate::error::InputError;
use crate::math::{norm_inv, student_t_inv};
use crate::scenario::{Copula, Lgd, Scenario};
pub use dependence::{Factors, Group};
pub use portfolio::{Loan, Portfolio};

/// What makes two loans' conditional PDs the same function of the factors:
/// PD bits, global correlation bits, sector factor, renewal, term.
type GroupKey = (u64, u64, Option<usize>, bool, u32);

/// How a loan's loss given default is found when it defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LgdKind {
    /// Fixed: loss, basis and claim are precomputed.
    Fixed(f64),
    /// Drawn from the Beta distribution with this index in [`Model::betas`].
    Beta(usize),
}

/// The per-loan terms the engine reads when a loan defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoanTerms {
    /// Outstanding principal.
    pub exposure: f64,
    /// Loss given default.
    pub lgd: LgdKind,
    /// Pool share of the loss basis (after tiers, bonuses and cap).
    pub share: f64,
    /// Cap on the loan's own claim (infinite when none).
    pub cap: f64,
    /// Bank index.
    pub bank: u32,
    /// Segment index.
    pub segment: u32,
}

/// Everything the engine needs, resolved from a scenario.
#[derive(Clone, Debug)]
pub struct Model {
    /// The scenario it was built from.
    pub scenario: Scenario,
    /// The loans.
    pub portfolio: Portfolio,
    /// Per-loan terms, aligned with `portfolio.loans`.
    pub terms: Vec<LoanTerms>,
    /// Groups of loans with the same conditional PD.
    pub groups: Vec<Group>,
    /// Distinct Beta LGD shapes `(alpha, beta)`.
    pub betas: Vec<(f64, f64)>,
    /// Systematic factors and copula.
    pub factors: Factors,
    /// Years in which defaults happen.
    pub horizon: usize,
    /// Years the ledger runs.
    pub ledger_years: usize,
    /// Active principal of each bank in year 1.
    pub bank_volume: Vec<f64>,
    /// Plan volume: the total exposure.
    pub volume: f64,
    /// Things `check` should point out (loans above the last tier, ...).
    pub warnings: Vec<String>,
}

impl Model {
    /// Builds the model of a validated scenario.
    pub fn build(scenario: &Scenario) -> Result<Model, InputError> {
        let portfolio = match &scenario.tape {
            Some(path) => tape::load(scenario, path)?,
            None => Portfolio::from_segments(scenario),
        };
        Self::from_portfolio(scenario, portfolio)
    }

    /// Builds the model of a scenario around an already loaded portfolio.
    pub fn from_portfolio(
        scenario: &Scenario,
        mut portfolio: Portfolio,
    ) -> Result<Model, InputError> {
        let stress_origin = scenario.stress.as_ref().map_or_else(
            || scenario.origin.clone(),
            |s| format!("--stress {}", s.name),
        );
        if let Some(stress) = &scenario.stress {
            for name in &stress.sectors {
                if !portfolio.sectors.contains(name) {
                    return Err(InputError::new(
                        &stress_origin,
                        format!("the stress names sector `{name}`, which no loan is in"),
                    ));
                }
            }
            let stressed: Vec<usize> = stress
                .sectors
                .iter()
                .filter_map(|n| portfolio.sectors.iter().position(|s| s == n))
                .collect();
            for loan in &mut portfolio.loans {
                if !stressed.is_empty() && !loan.sector.is_some_and(|s| stressed.contains(&s)) {
                    continue;
                }
                loan.pd *= stress.pd_multiplier;
                if loan.pd.is_nan() || loan.pd >= 1.0 {
                    return Err(InputError::new(
                        &stress_origin,
                        format!(
                            "pd_multiplier {} makes loan {}'s PD {}, which must stay below 1",
                            stress.pd_multiplier, loan.id, loan.pd
                        ),
                    ));
                }
                if let Some(c) = stress.correlation {
                    loan.correlation = c;
                }
            }
        }

        // Sector factors: sectors with a non-zero sector correlation.
        let sector_rho: Vec<f64> = portfolio
            .sectors
            .iter()
            .map(|s| {
                scenario
                    .dependence
                    .sectors
                    .as_ref()
                    .and_then(|m| m.get(s))
                    .copied()
                    .unwrap_or(0.0)
            })
            .collect();
        let mut factor_of_sector = vec![None; portfolio.sectors.len()];
        let mut sector_factors = 0;
        for (i, rho) in sector_rho.iter().enumerate() {
            if *rho > 0.0 {
                factor_of_sector[i] = Some(sector_factors);
                sector_factors += 1;
            }
        }

        let comp = &scenario.compensation;
        let cap = comp.max_claim_per_loan.unwrap_or(f64::INFINITY);
        let mut betas: Vec<(f64, f64)> = Vec::new();
        let mut warnings = Vec::new();
        let mut above_tier = 0usize;
        let mut terms = Vec::with_capacity(portfolio.loans.len());
        for loan in &portfolio.loans {
            let lgd = match loan.lgd {
                Lgd::Fixed(v) => LgdKind::Fixed(v),
                Lgd::Beta { mean, sd } => {
                    let shape = Lgd::beta_shape(mean, sd);
                    let idx = betas.iter().position(|b| *b == shape).unwrap_or_else(|| {
                        betas.push(shape);
                        betas.len() - 1
                    });
                    LgdKind::Beta(idx)
                }
            };
            if compensation::above_last_tier(comp, loan) {
                above_tier += 1;
            }
            terms.push(LoanTerms {
                exposure: loan.exposure,
                lgd,
                share: compensation::pool_share(comp, loan),
                cap,
                bank: loan.bank as u32,
                segment: loan.segment as u32,
            });
        }
        if above_tier > 0 {
            warnings.push(format!(
                "{above_tier} loan(s) exceed the last tier's up_to and get a pool share of 0"
            ));
        }

        // Group loans whose conditional PD is the same function of the factors.
        let copula = scenario.dependence.copula;
        let mut keyed: BTreeMap<GroupKey, Vec<u32>> = BTreeMap::new();
        for (i, loan) in portfolio.loans.iter().enumerate() {
            let factor = loan.sector.and_then(|s| factor_of_sector[s]);
            let rho_s = loan.sector.map_or(0.0, |s| sector_rho[s]);
            if loan.correlation + rho_s >= 1.0 {
                return Err(InputError::new(
                    &stress_origin,
                    format!(
                        "loan {}: global correlation {} plus sector correlation {rho_s} must be below 1",
                        loan.id, loan.correlation
                    ),
                ));
            }
            let term = if loan.renew { 0 } else { loan.term_years };
            keyed
                .entry((
                    loan.pd.to_bits(),
                    loan.correlation.to_bits(),
                    factor,
                    loan.renew,
                    term,
                ))
                .or_default()
                .push(i as u32);
        }
        let mut groups = Vec::with_capacity(keyed.len());
        for ((pd_bits, rho_bits, factor, renew, term), loans) in keyed {
            let pd = f64::from_bits(pd_bits);
            let rho_g = f64::from_bits(rho_bits);
            let first = &portfolio.loans[loans[0] as usize];
            let rho_s = first.sector.map_or(0.0, |s| sector_rho[s]);
            let threshold = match copula {
                Copula::Gaussian => norm_inv(pd),
                Copula::StudentT(nu) => student_t_inv(pd, nu),
            };
            let uniform = loans
                .iter()
                .all(|&i| terms[i as usize] == terms[loans[0] as usize]);
            groups.push(Group {
                pd,
                threshold,
                a_global: rho_g.sqrt(),
                sector_factor: factor,
                a_sector: rho_s.sqrt(),
                inv_scale: 1.0 / (1.0 - rho_g - rho_s).sqrt(),
                loans,
                renew,
                term: if renew { u32::MAX } else { term },
                uniform,
            });
        }

        let horizon = scenario.horizon_years as usize;
        let mut pins = vec![None; horizon];
        if let Some(stress) = &scenario.stress {
            for &(year, q) in &stress.global_factor {
                pins[year as usize - 1] = Some(norm_inv(q));
            }
        }
        let factors = Factors {
            copula,
            persistence: scenario
                .stress
                .as_ref()
                .and_then(|s| s.factor_persistence)
                .unwrap_or(scenario.dependence.factor_persistence),
            sector_factors,
            pins,
        };
        let mut bank_volume = vec![0.0; portfolio.banks.len()];
        for t in &terms {
            bank_volume[t.bank as usize] += t.exposure;
        }
        let volume = portfolio.volume();
        Ok(Model {
            scenario: scenario.clone(),
            portfolio,
            terms,
            groups,
            betas,
            factors,
            horizon,
            ledger_years: scenario.ledger_years() as usize,
            bank_volume,
            volume,
            warnings,
        })
    }

    /// Leverage: plan volume over the pool's money (initial balance plus
    /// scheduled top-ups); `None` when the pool has no money.
    pub fn leverage(&self) -> Option<f64> {
        let pool = self.scenario.pool_resources();
        (pool > 0.0).then(|| self.volume / pool)
    }
}
