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

use crate::engine::sampler::BinomialTable;
use crate::error::InputError;
use crate::math::{norm_inv, student_t_inv};
use crate::scenario::Basis;
use crate::scenario::{Copula, Lgd, MAX_FIGURE, MAX_VOLUME, MIN_T_PD, Scenario};
pub use dependence::{Factors, Figures, Group, GroupKind};
pub use portfolio::{Loan, Portfolio};
use sha2::Digest;

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
    /// Index into [`Model::pairs`] of its (bank, segment).
    pub pair: u32,
}

impl LoanTerms {
    /// The loan's figures when its LGD is fixed (zero LGD otherwise).
    pub fn figures(&self, basis: Basis) -> Figures {
        let lgd = match self.lgd {
            LgdKind::Fixed(v) => v,
            LgdKind::Beta(_) => 0.0,
        };
        let b = compensation::basis_amount(basis, self.exposure, lgd);
        let claim = compensation::own_claim(self.share, b, self.cap);
        Figures {
            loss: self.exposure * lgd,
            claim,
            recovery: claim * (1.0 - lgd),
            exposure: self.exposure,
        }
    }
}

/// Everything the engine needs, resolved from a scenario.
#[derive(Debug)]
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
    /// The Beta distributions of [`Model::betas`], ready to sample.
    pub beta_laws: Vec<rand_distr::Beta<f64>>,
    /// The t copula's chi-square mixing law `(nu, chi2_nu)`.
    pub chi2: Option<(f64, rand_distr::ChiSquared<f64>)>,
    /// Systematic factors and copula.
    pub factors: Factors,
    /// Years in which defaults happen.
    pub horizon: usize,
    /// Years the ledger runs.
    pub ledger_years: usize,
    /// Active principal of each bank in year 1.
    pub bank_volume: Vec<f64>,
    /// The (bank, segment) pairs that occur; defaults are summed by pair.
    pub pairs: Vec<(u32, u32)>,
    /// Plan volume: the total exposure.
    pub volume: f64,
    /// Things `check` should point out (loans above the last tier, ...).
    pub warnings: Vec<String>,
}

impl Model {
    /// Builds the model of a validated scenario.
    pub fn build(scenario: &Scenario) -> Result<Model, InputError> {
        let (scenario, portfolio) = Self::portfolio_of(scenario)?;
        Self::from_portfolio(&scenario, portfolio)
    }

    /// The loans of a scenario, before any stress, and the scenario whose
    /// hash includes the tape's contents when the loans come from a tape.
    pub fn portfolio_of(scenario: &Scenario) -> Result<(Scenario, Portfolio), InputError> {
        match &scenario.tape {
            Some(path) => {
                let (portfolio, digest) = tape::load(scenario, path)?;
                // The resolved scenario includes the tape's contents.
                let mut with_tape = scenario.clone();
                let mut hasher = sha2::Sha256::new();
                sha2::Digest::update(&mut hasher, scenario.sha256.as_bytes());
                sha2::Digest::update(&mut hasher, b"\n--tape\n");
                sha2::Digest::update(&mut hasher, digest);
                with_tape.sha256 = crate::scenario::hex(&sha2::Digest::finalize(hasher));
                Ok((with_tape, portfolio))
            }
            None => Ok((scenario.clone(), Portfolio::from_segments(scenario))),
        }
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
            let mut too_high = None;
            for (i, loan) in portfolio.loans.iter_mut().enumerate() {
                if !stressed.is_empty() && !loan.sector.is_some_and(|s| stressed.contains(&s)) {
                    continue;
                }
                loan.pd *= stress.pd_multiplier;
                if too_high.is_none() && (loan.pd.is_nan() || loan.pd >= 1.0) {
                    too_high = Some(i);
                }
                if let Some(c) = stress.correlation {
                    loan.correlation = c;
                }
            }
            if let Some(i) = too_high {
                return Err(InputError::new(
                    &stress_origin,
                    format!(
                        "pd_multiplier {} makes loan {}'s PD {}, which must stay below 1",
                        stress.pd_multiplier,
                        portfolio.loan_id(i),
                        portfolio.loans[i].pd
                    ),
                ));
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
        // The (bank, segment) pairs that occur, in order of first loan.
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let mut pair_index: crate::fasthash::FxHashMap<(u32, u32), u32> = Default::default();
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
            let key = (loan.bank as u32, loan.segment as u32);
            let next = pair_index.len() as u32;
            let pair = *pair_index.entry(key).or_insert_with(|| {
                pairs.push(key);
                next
            });
            terms.push(LoanTerms {
                exposure: loan.exposure,
                lgd,
                share: compensation::pool_share(comp, loan),
                cap,
                bank: loan.bank as u32,
                segment: loan.segment as u32,
                pair,
            });
        }
        if above_tier > 0 {
            warnings.push(format!(
                "{above_tier} loan(s) exceed the last tier's up_to and get a pool share of 0"
            ));
        }

        // Group loans whose conditional PD is the same function of the factors.
        let copula = scenario.dependence.copula;
        if let Copula::StudentT(_) = copula
            && let Some(i) = portfolio.loans.iter().position(|l| l.pd < MIN_T_PD)
        {
            return Err(InputError::new(
                &stress_origin,
                format!(
                    "loan {} has PD {:e}; with the t copula PDs must be at least {MIN_T_PD:e}",
                    portfolio.loan_id(i),
                    portfolio.loans[i].pd
                ),
            ));
        }
        let mut keyed: BTreeMap<GroupKey, Vec<u32>> = BTreeMap::new();
        for (i, loan) in portfolio.loans.iter().enumerate() {
            let factor = loan.sector.and_then(|s| factor_of_sector[s]);
            let rho_s = loan.sector.map_or(0.0, |s| sector_rho[s]);
            if loan.correlation + rho_s >= 1.0 {
                return Err(InputError::new(
                    &stress_origin,
                    format!(
                        "loan {}: global correlation {} plus sector correlation {rho_s} must be below 1",
                        portfolio.loan_id(i),
                        loan.correlation
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
            let first_terms = terms[loans[0] as usize];
            let kind = if loans.iter().all(|&i| terms[i as usize] == first_terms) {
                GroupKind::Uniform
            } else if let LgdKind::Fixed(lgd) = first_terms.lgd
                && loans.iter().all(|&i| {
                    let t = &terms[i as usize];
                    t.bank == first_terms.bank
                        && t.segment == first_terms.segment
                        && t.lgd == first_terms.lgd
                        && t.share == first_terms.share
                        && t.cap == first_terms.cap
                })
            {
                let rate = compensation::basis_amount(comp.basis, 1.0, lgd) * first_terms.share;
                let capped = loans.iter().any(|&i| {
                    let t = &terms[i as usize];
                    t.share * compensation::basis_amount(comp.basis, t.exposure, lgd) >= t.cap
                });
                GroupKind::Linear {
                    pair: first_terms.pair,
                    bank: first_terms.bank,
                    lgd,
                    rate,
                    cap: first_terms.cap,
                    capped,
                }
            } else if loans.iter().all(|&i| {
                let t = &terms[i as usize];
                t.bank == first_terms.bank
                    && t.segment == first_terms.segment
                    && matches!(t.lgd, LgdKind::Fixed(_))
            }) {
                GroupKind::Simple {
                    pair: first_terms.pair,
                    bank: first_terms.bank,
                }
            } else {
                GroupKind::General
            };
            // Loans with a Beta LGD get placeholder figures; their draws
            // are made when they default.
            let (figures, amounts, exposures) = if let GroupKind::Linear {
                rate, cap, capped, ..
            } = kind
            {
                let exposure = |&i: &u32| terms[i as usize].exposure;
                if capped {
                    let a = loans
                        .iter()
                        .map(exposure)
                        .map(|e| [e, (rate * e).min(cap)])
                        .collect();
                    (Vec::new(), a, Vec::new())
                } else {
                    (Vec::new(), Vec::new(), loans.iter().map(exposure).collect())
                }
            } else {
                let f = loans
                    .iter()
                    .map(|&i| terms[i as usize].figures(comp.basis))
                    .collect();
                (f, Vec::new(), Vec::new())
            };
            let sampler = renew.then(|| BinomialTable::new(loans.len() as u32));
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
                kind,
                figures,
                amounts,
                exposures,
                sampler,
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
        if volume > MAX_VOLUME {
            return Err(InputError::new(
                &scenario.origin,
                format!(
                    "the plan's volume is {volume:e}, more than the {MAX_VOLUME:e} riskpool handles"
                ),
            ));
        }
        // The largest figure a path can reach: all money, all claims, grown
        // by interest over the ledger.
        let growth =
            (1.0 + scenario.pool.interest_rate.max(0.0)).powi(scenario.ledger_years() as i32);
        let largest = (scenario.pool_resources() + volume * scenario.horizon_years as f64) * growth;
        if largest.is_nan() || largest > MAX_FIGURE {
            return Err(InputError::new(
                &scenario.origin,
                format!(
                    "with interest_rate {} over {} ledger years the pool's balance could reach {largest:e}, more than the {MAX_FIGURE:e} riskpool keeps exact; lower the rate or the horizon",
                    scenario.pool.interest_rate,
                    scenario.ledger_years()
                ),
            )
            .with_key("pool.interest_rate"));
        }
        let beta_laws = betas
            .iter()
            .map(|&(a, b)| {
                rand_distr::Beta::new(a, b).map_err(|e| {
                    InputError::new(
                        &scenario.origin,
                        format!("a Beta LGD has shapes ({a}, {b}) that cannot be sampled: {e}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let chi2 = match scenario.dependence.copula {
            Copula::StudentT(nu) => Some((
                nu,
                rand_distr::ChiSquared::new(nu).map_err(|e| {
                    InputError::new(
                        &scenario.origin,
                        format!("degrees_of_freedom {nu} cannot be sampled: {e}"),
                    )
                    .with_key("dependence.degrees_of_freedom")
                })?,
            )),
            Copula::Gaussian => None,
        };
        Ok(Model {
            scenario: scenario.clone(),
            portfolio,
            terms,
            groups,
            betas,
            beta_laws,
            chi2,
            factors,
            horizon,
            ledger_years: scenario.ledger_years() as usize,
            bank_volume,
            pairs,
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
