//! One simulated path: factors, defaults by group, who pays what, the bank
//! rules and the pool's ledger (model.md sections 2 to 4).
//!
//! Given the factors, the loans of a group default independently with the
//! same probability, so the number of defaults is one Binomial draw; only
//! the defaulted loans are then visited. Work per path grows with defaults,
//! not loans. All scratch memory lives in a [`Workspace`] reused across paths.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Beta, Binomial, ChiSquared, Distribution, StandardNormal};

use super::outcome::{PathOutcome, slot};
use crate::model::compensation::{basis_amount, own_claim};
use crate::model::ledger::Ledger;
use crate::model::{LgdKind, Model};
use crate::scenario::{Basis, Copula};

/// The defaults of one group (or one loan) in one year, summed.
#[derive(Clone, Copy, Debug, Default)]
struct Record {
    year: u32,
    bank: u32,
    segment: u32,
    /// Defaulted principal.
    exposure: f64,
    /// Principal loss (exposure x LGD).
    loss: f64,
    /// Loss basis (loss, or exposure for the outstanding-principal basis).
    basis: f64,
    /// Claim on the pool: own shares capped per loan, plus insurer excess.
    claim: f64,
    /// Sum of claim x (1 - LGD): what the pool's part recovers if paid in full.
    recovery_base: f64,
}

/// Scratch memory for simulating paths of one model.
pub struct Workspace {
    z: Vec<f64>,
    stamps: Vec<u32>,
    epoch: u32,
    /// For groups of non-renewed loans: the loans, active ones first.
    active: Vec<Vec<u32>>,
    active_count: Vec<usize>,
    records: Vec<Record>,
    /// Per default year and bank (`t * banks + b`).
    bank_claims: Vec<f64>,
    bank_defaulted: Vec<f64>,
    bank_active: Vec<f64>,
    bank_factor: Vec<f64>,
    /// Active principal of non-renewed loans per bank, as the path goes.
    nonrenew_active: Vec<f64>,
    /// Per ledger year.
    approved_due: Vec<f64>,
    suspended_due: Vec<f64>,
    recovery_base_due: Vec<f64>,
    paid_fraction: Vec<f64>,
    /// Per default year: insurer paid, guarantor share.
    insurer_paid: Vec<f64>,
    guarantor_paid: Vec<f64>,
    betas: Vec<Beta<f64>>,
    chi2: Option<ChiSquared<f64>>,
    /// Non-renewed principal per bank at the start of a path.
    nonrenew_start: Vec<f64>,
    renew_volume: Vec<f64>,
    /// The outcome of the last path.
    pub out: PathOutcome,
}

impl Workspace {
    /// Scratch memory shaped for `model`.
    pub fn new(model: &Model) -> Self {
        let banks = model.portfolio.banks.len();
        let h = model.horizon;
        let l = model.ledger_years;
        let mut nonrenew_start = vec![0.0; banks];
        let mut renew_volume = vec![0.0; banks];
        for (loan, t) in model.portfolio.loans.iter().zip(&model.terms) {
            if loan.renew {
                renew_volume[t.bank as usize] += t.exposure;
            } else {
                nonrenew_start[t.bank as usize] += t.exposure;
            }
        }
        let active = model
            .groups
            .iter()
            .map(|g| {
                if g.renew || g.uniform {
                    Vec::new()
                } else {
                    g.loans.clone()
                }
            })
            .collect();
        Self {
            z: vec![0.0; 1 + model.factors.sector_factors],
            stamps: vec![0; model.portfolio.loans.len()],
            epoch: 0,
            active,
            active_count: vec![0; model.groups.len()],
            records: Vec::new(),
            bank_claims: vec![0.0; h * banks],
            bank_defaulted: vec![0.0; h * banks],
            bank_active: vec![0.0; h * banks],
            bank_factor: vec![1.0; h * banks],
            nonrenew_active: vec![0.0; banks],
            approved_due: vec![0.0; l],
            suspended_due: vec![0.0; l],
            recovery_base_due: vec![0.0; l],
            paid_fraction: vec![1.0; l],
            insurer_paid: vec![0.0; h],
            guarantor_paid: vec![0.0; h],
            betas: model
                .betas
                .iter()
                .map(|&(a, b)| {
                    Beta::new(a, b).expect("Beta shapes are validated when the scenario is read")
                })
                .collect(),
            chi2: match model.factors.copula {
                Copula::StudentT(nu) => {
                    Some(ChiSquared::new(nu).expect("degrees of freedom are validated (> 2)"))
                }
                Copula::Gaussian => None,
            },
            nonrenew_start,
            renew_volume,
            out: PathOutcome::new(model),
        }
    }

    /// Puts the non-renewed loans back in their starting order, so that a
    /// batch's paths depend only on the batch and not on earlier batches.
    pub fn start_batch(&mut self, model: &Model) {
        for (g, active) in model.groups.iter().zip(&mut self.active) {
            if !active.is_empty() {
                active.copy_from_slice(&g.loans);
            }
        }
    }

    /// Simulates path `index` of its batch with `rng` (set to the batch's
    /// stream), leaving its figures in `self.out`.
    ///
    /// Each year of each path starts at its own fixed position of the
    /// stream, `(index * 128 + year) * 2^51` words, whatever earlier paths
    /// and years consumed. Runs that differ only in what happens after a
    /// point (a stress in a later year, another pool size) therefore share
    /// their random numbers up to it: common random numbers.
    pub fn simulate(&mut self, model: &Model, rng: &mut ChaCha8Rng, index: u64) {
        self.reset(model);
        for t in 0..model.horizon {
            rng.set_word_pos((u128::from(index) << 7 | t as u128) << 51);
            self.draw_year(model, t, rng);
        }
        self.apply_bank_rules(model);
        self.run_ledger(model);
        self.summarise(model);
    }

    fn reset(&mut self, model: &Model) {
        self.records.clear();
        self.bank_claims.fill(0.0);
        self.bank_defaulted.fill(0.0);
        self.bank_factor.fill(1.0);
        self.approved_due.fill(0.0);
        self.suspended_due.fill(0.0);
        self.recovery_base_due.fill(0.0);
        self.insurer_paid.fill(0.0);
        self.guarantor_paid.fill(0.0);
        self.nonrenew_active.copy_from_slice(&self.nonrenew_start);
        for (count, g) in self.active_count.iter_mut().zip(&model.groups) {
            *count = g.loans.len();
        }
        self.out.clear();
    }

    fn draw_factors(&mut self, model: &Model, t: usize, rng: &mut ChaCha8Rng) -> f64 {
        let f = &model.factors;
        let phi = f.persistence;
        let keep = (1.0 - phi * phi).sqrt();
        for k in 0..self.z.len() {
            let eta: f64 = StandardNormal.sample(rng);
            self.z[k] = if t == 0 {
                eta
            } else {
                phi * self.z[k] + keep * eta
            };
        }
        if let Some(pin) = f.pins[t] {
            self.z[0] = pin;
        }
        match &self.chi2 {
            Some(chi2) => {
                let Copula::StudentT(nu) = f.copula else {
                    unreachable!("chi2 is set only for the t copula")
                };
                let v: f64 = chi2.sample(rng);
                (nu / v).sqrt()
            }
            None => 1.0,
        }
    }

    fn draw_year(&mut self, model: &Model, t: usize, rng: &mut ChaCha8Rng) {
        let banks = model.portfolio.banks.len();
        let basis_kind = model.scenario.compensation.basis;
        // Maturities of non-renewed loans at the start of the year.
        for (gi, g) in model.groups.iter().enumerate() {
            if !g.renew && t as u64 == u64::from(g.term) {
                self.retire_group(model, gi);
            }
        }
        for b in 0..banks {
            self.bank_active[t * banks + b] = self.renew_volume[b] + self.nonrenew_active[b];
        }
        let sqrt_w = self.draw_factors(model, t, rng);
        let year_start = self.records.len();
        for (gi, g) in model.groups.iter().enumerate() {
            if !g.active_in(t) {
                continue;
            }
            let n = if g.renew {
                g.loans.len()
            } else {
                self.active_count[gi]
            };
            if n == 0 {
                continue;
            }
            let p = g.conditional_pd(self.z[0], &self.z[1..], sqrt_w);
            let k = Binomial::new(n as u64, p).map_or(0, |b| b.sample(rng)) as usize;
            if k == 0 {
                continue;
            }
            if g.uniform {
                let terms = model.terms[g.loans[0] as usize];
                let mut rec = Record {
                    year: t as u32,
                    bank: terms.bank,
                    segment: terms.segment,
                    exposure: terms.exposure * k as f64,
                    ..Record::default()
                };
                match terms.lgd {
                    LgdKind::Fixed(lgd) => {
                        let basis = basis_amount(basis_kind, terms.exposure, lgd);
                        let claim = own_claim(terms.share, basis, terms.cap);
                        let kf = k as f64;
                        rec.loss = terms.exposure * lgd * kf;
                        rec.basis = basis * kf;
                        rec.claim = claim * kf;
                        rec.recovery_base = claim * (1.0 - lgd) * kf;
                    }
                    LgdKind::Beta(bi) => {
                        for _ in 0..k {
                            let lgd = self.betas[bi].sample(rng);
                            add_default(
                                &mut rec,
                                basis_kind,
                                terms.exposure,
                                lgd,
                                terms.share,
                                terms.cap,
                            );
                        }
                    }
                }
                if !g.renew {
                    self.active_count[gi] -= k;
                    self.nonrenew_active[terms.bank as usize] -= rec.exposure;
                }
                self.push(rec, banks);
            } else if g.renew {
                // Floyd's algorithm: k distinct loans out of n, O(k).
                self.epoch = self.epoch.wrapping_add(1);
                if self.epoch == 0 {
                    self.stamps.fill(0);
                    self.epoch = 1;
                }
                for j in (n - k)..n {
                    let mut pick = rng.random_range(0..=j);
                    if self.stamps[g.loans[pick] as usize] == self.epoch {
                        pick = j;
                    }
                    let loan = g.loans[pick];
                    self.stamps[loan as usize] = self.epoch;
                    self.default_loan(model, loan, t, rng);
                }
            } else {
                // Partial Fisher-Yates over the active loans: the defaulted
                // ones move to the end and leave the group.
                for i in 0..k {
                    let last = n - 1 - i;
                    let pick = rng.random_range(0..=last);
                    self.active[gi].swap(pick, last);
                    let loan = self.active[gi][last];
                    let terms = model.terms[loan as usize];
                    self.nonrenew_active[terms.bank as usize] -= terms.exposure;
                    self.default_loan(model, loan, t, rng);
                }
                self.active_count[gi] -= k;
            }
        }
        self.apply_other_parties(model, t, year_start);
    }

    /// Removes the still-active loans of a matured group.
    fn retire_group(&mut self, model: &Model, gi: usize) {
        let g = &model.groups[gi];
        let m = self.active_count[gi];
        if g.uniform {
            let terms = model.terms[g.loans[0] as usize];
            self.nonrenew_active[terms.bank as usize] -= terms.exposure * m as f64;
        } else {
            for &loan in &self.active[gi][..m] {
                let terms = model.terms[loan as usize];
                self.nonrenew_active[terms.bank as usize] -= terms.exposure;
            }
        }
        self.active_count[gi] = 0;
    }

    fn default_loan(&mut self, model: &Model, loan: u32, t: usize, rng: &mut ChaCha8Rng) {
        let terms = model.terms[loan as usize];
        let lgd = match terms.lgd {
            LgdKind::Fixed(v) => v,
            LgdKind::Beta(bi) => self.betas[bi].sample(rng),
        };
        let mut rec = Record {
            year: t as u32,
            bank: terms.bank,
            segment: terms.segment,
            exposure: terms.exposure,
            ..Record::default()
        };
        add_default(
            &mut rec,
            model.scenario.compensation.basis,
            terms.exposure,
            lgd,
            terms.share,
            terms.cap,
        );
        self.push(rec, model.portfolio.banks.len());
    }

    fn push(&mut self, rec: Record, banks: usize) {
        let i = rec.year as usize * banks + rec.bank as usize;
        self.bank_defaulted[i] += rec.exposure;
        self.bank_claims[i] += rec.claim;
        self.records.push(rec);
    }

    /// The insurer's and guarantor's parts of year `t`'s losses; the
    /// insurer's unpaid part joins the claims when the pool covers it.
    fn apply_other_parties(&mut self, model: &Model, t: usize, year_start: usize) {
        let banks = model.portfolio.banks.len();
        let year = &self.records[year_start..];
        let basis: f64 = year.iter().map(|r| r.basis).sum();
        if let Some(g) = model.scenario.guarantor {
            self.guarantor_paid[t] = g * basis;
        }
        let Some(ins) = &model.scenario.insurer else {
            return;
        };
        let due = ins.share * basis;
        if due <= 0.0 {
            return;
        }
        let active: f64 = self.bank_active[t * banks..(t + 1) * banks].iter().sum();
        let budget = ins.premium_rate * active * (1.0 - ins.cost_ratio);
        let paid_fraction = (budget / due).min(1.0);
        self.insurer_paid[t] = paid_fraction * due;
        if ins.pool_covers_excess && paid_fraction < 1.0 {
            let excess_rate = (1.0 - paid_fraction) * ins.share;
            for r in &mut self.records[year_start..] {
                let excess = excess_rate * r.basis;
                r.claim += excess;
                // Recoveries return only on the outstanding-principal basis,
                // where basis x LGD is the loss: the excess earns basis - loss.
                r.recovery_base += excess_rate * (r.basis - r.loss);
                self.bank_claims[r.year as usize * banks + r.bank as usize] += excess;
            }
        }
    }

    /// Suspension and bank caps, judged on each default year; approved
    /// claims become due `claim_lag_years` later.
    fn apply_bank_rules(&mut self, model: &Model) {
        let banks = model.portfolio.banks.len();
        let comp = &model.scenario.compensation;
        let lag = model.scenario.pool.claim_lag_years as usize;
        for t in 0..model.horizon {
            for b in 0..banks {
                let i = t * banks + b;
                let claims = self.bank_claims[i];
                let active = self.bank_active[i];
                let suspended = comp
                    .suspend_above_npl_ratio
                    .is_some_and(|limit| active > 0.0 && self.bank_defaulted[i] / active > limit);
                let approved = if suspended {
                    0.0
                } else if let Some(cap) = comp.bank_annual_cap_ratio {
                    claims.min(cap * active)
                } else {
                    claims
                };
                self.bank_factor[i] = if claims > 0.0 { approved / claims } else { 1.0 };
                if suspended {
                    self.suspended_due[t + lag] += claims;
                    self.out.bank_suspended[b] = true;
                    self.out.banks[b][4] += claims;
                }
                self.approved_due[t + lag] += approved;
                self.out.banks[b][2] += approved;
            }
        }
        if comp.returns_recoveries() {
            for r in &self.records {
                let f = self.bank_factor[r.year as usize * banks + r.bank as usize];
                self.recovery_base_due[r.year as usize + lag] += f * r.recovery_base;
            }
        }
    }

    fn run_ledger(&mut self, model: &Model) {
        let pool = &model.scenario.pool;
        let rec_lag = model.scenario.compensation.recovery_lag_years as usize;
        let returns = model.scenario.compensation.returns_recoveries();
        let mut ledger = Ledger::new(pool);
        let mut totals = [0.0; slot::COUNT];
        for u in 0..model.ledger_years {
            let recoveries = if returns && u >= rec_lag {
                self.paid_fraction[u - rec_lag] * self.recovery_base_due[u - rec_lag]
            } else {
                0.0
            };
            let y = ledger.year(u, self.approved_due[u], recoveries);
            self.paid_fraction[u] = y.fraction;
            let e = &mut self.out.years[u];
            e[slot::APPROVED] = y.approved;
            e[slot::SUSPENDED] = self.suspended_due[u];
            e[slot::PAID] = y.paid;
            e[slot::SHORTFALL] = y.shortfall;
            e[slot::RECOVERIES] = recoveries;
            e[slot::BALANCE] = y.balance;
            self.out.depleted[u] = y.depleted;
            self.out.budget_exceeded[u] = y.budget_exceeded;
            for s in [
                slot::APPROVED,
                slot::SUSPENDED,
                slot::PAID,
                slot::SHORTFALL,
                slot::RECOVERIES,
            ] {
                totals[s] += e[s];
            }
            totals[slot::BALANCE] = y.balance;
        }
        self.out.totals = totals;
    }

    fn summarise(&mut self, model: &Model) {
        let banks = model.portfolio.banks.len();
        let lag = model.scenario.pool.claim_lag_years as usize;
        let mut loss = 0.0;
        let mut claims = 0.0;
        let mut basis_total = 0.0;
        for r in &self.records {
            let t = r.year as usize;
            let f = self.bank_factor[t * banks + r.bank as usize];
            let paid = r.claim * f * self.paid_fraction[t + lag];
            let y = &mut self.out.years[t];
            y[slot::LOSS] += r.loss;
            y[slot::CLAIMS] += r.claim;
            let s = &mut self.out.segments[r.segment as usize];
            s[0] += r.loss;
            s[1] += r.claim;
            s[2] += paid;
            let b = &mut self.out.banks[r.bank as usize];
            b[0] += r.loss;
            b[1] += r.claim;
            b[3] += paid;
            loss += r.loss;
            claims += r.claim;
            basis_total += r.basis;
        }
        self.out.totals[slot::LOSS] = loss;
        self.out.totals[slot::CLAIMS] = claims;
        let segments = self.out.segments.len();
        for (i, s) in self.out.segments.iter().enumerate() {
            self.out.claim_parts[i] = s[1];
        }
        for (i, b) in self.out.banks.iter().enumerate() {
            self.out.claim_parts[segments + i] = b[1];
        }
        // What the other parties bear, net of the recoveries they share
        // pro rata (on the outstanding-principal basis they pay on the whole
        // exposure and get back the recovered part).
        let net = if basis_total > 0.0 {
            loss / basis_total
        } else {
            1.0
        };
        let insurer: f64 = self.insurer_paid.iter().sum::<f64>() * net;
        let guarantor: f64 = self.guarantor_paid.iter().sum::<f64>() * net;
        let pool_net = self.out.totals[slot::PAID] - self.out.totals[slot::RECOVERIES];
        self.out.parties = [loss - pool_net - insurer - guarantor, insurer, guarantor];
    }
}

/// Adds one defaulted loan with loss-given-default `lgd` to a record.
#[inline]
fn add_default(rec: &mut Record, basis_kind: Basis, exposure: f64, lgd: f64, share: f64, cap: f64) {
    let basis = basis_amount(basis_kind, exposure, lgd);
    let claim = own_claim(share, basis, cap);
    rec.loss += exposure * lgd;
    rec.basis += basis;
    rec.claim += claim;
    rec.recovery_base += claim * (1.0 - lgd);
}
