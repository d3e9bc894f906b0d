//! What one path produces, and the accumulator that gathers paths.
//!
//! A [`PathOutcome`] holds every figure of one path in fixed slots; the
//! [`Accumulator`] mirrors that shape with one mergeable accumulator per
//! slot. Accumulators merge exactly, so the merged result does not depend on
//! which worker ran which batch.

use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::stats::{Contributions, ProbAcc, StatAcc, fixed_weight};

/// Slots of the per-horizon totals and of each year's entry.
pub mod slot {
    /// Total principal loss of all parties (by default year).
    pub const LOSS: usize = 0;
    /// Claims on the pool (by default year).
    pub const CLAIMS: usize = 1;
    /// Claims approved after the bank rules (by year due).
    pub const APPROVED: usize = 2;
    /// Claims voided by a bank's suspension (by year due).
    pub const SUSPENDED: usize = 3;
    /// Paid by the pool (by year due).
    pub const PAID: usize = 4;
    /// Approved but unpaid (by year due).
    pub const SHORTFALL: usize = 5;
    /// Recoveries returned to the pool (by year received).
    pub const RECOVERIES: usize = 6;
    /// Balance: final for totals, end of year for a year entry.
    pub const BALANCE: usize = 7;
    /// Number of slots.
    pub const COUNT: usize = 8;

    /// Bank slots: loss, claims, approved, paid, suspended.
    pub const BANK_COUNT: usize = 5;
    /// Segment slots: loss, claims, paid.
    pub const SEGMENT_COUNT: usize = 3;
    /// Parties: bank, insurer, guarantor.
    pub const PARTY_COUNT: usize = 3;
}

/// Every figure of one simulated path.
#[derive(Clone, Debug)]
pub struct PathOutcome {
    /// Totals over the ledger (see [`slot`]).
    pub totals: [f64; slot::COUNT],
    /// One entry per ledger year.
    pub years: Vec<[f64; slot::COUNT]>,
    /// Per bank: loss, claims, approved, paid, suspended.
    pub banks: Vec<[f64; slot::BANK_COUNT]>,
    /// Per segment: loss, claims, paid.
    pub segments: Vec<[f64; slot::SEGMENT_COUNT]>,
    /// What the bank, the insurer and the guarantor bear.
    pub parties: [f64; slot::PARTY_COUNT],
    /// Whether the pool was depleted in each ledger year.
    pub depleted: Vec<bool>,
    /// Whether approved claims due exceeded the budget in each ledger year.
    pub budget_exceeded: Vec<bool>,
    /// Whether each bank was suspended in any year.
    pub bank_suspended: Vec<bool>,
    /// Claims by segment, then by bank: the parts whose contributions to
    /// the expected shortfall of total claims are reported.
    pub claim_parts: Vec<f64>,
}

impl PathOutcome {
    /// A zeroed outcome shaped for `model`.
    pub fn new(model: &Model) -> Self {
        let l = model.ledger_years;
        Self {
            totals: [0.0; slot::COUNT],
            years: vec![[0.0; slot::COUNT]; l],
            banks: vec![[0.0; slot::BANK_COUNT]; model.portfolio.banks.len()],
            segments: vec![[0.0; slot::SEGMENT_COUNT]; model.portfolio.segments.len()],
            parties: [0.0; slot::PARTY_COUNT],
            depleted: vec![false; l],
            budget_exceeded: vec![false; l],
            bank_suspended: vec![false; model.portfolio.banks.len()],
            claim_parts: vec![0.0; model.portfolio.segments.len() + model.portfolio.banks.len()],
        }
    }

    /// Zeroes every figure, keeping the shape.
    pub fn clear(&mut self) {
        self.totals = [0.0; slot::COUNT];
        self.years.iter_mut().for_each(|y| *y = [0.0; slot::COUNT]);
        self.banks
            .iter_mut()
            .for_each(|b| *b = [0.0; slot::BANK_COUNT]);
        self.segments
            .iter_mut()
            .for_each(|s| *s = [0.0; slot::SEGMENT_COUNT]);
        self.parties = [0.0; slot::PARTY_COUNT];
        self.depleted.iter_mut().for_each(|d| *d = false);
        self.budget_exceeded.iter_mut().for_each(|d| *d = false);
        self.bank_suspended.iter_mut().for_each(|d| *d = false);
        self.claim_parts.fill(0.0);
    }
}

/// Mergeable accumulators for every slot of [`PathOutcome`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    /// Paths added.
    pub paths: u64,
    /// Sum of path weights (equal to `paths` for plain sampling).
    pub weight: ProbAcc,
    /// Totals over the ledger.
    pub totals: Vec<StatAcc>,
    /// Per ledger year.
    pub years: Vec<Vec<StatAcc>>,
    /// Per bank.
    pub banks: Vec<Vec<StatAcc>>,
    /// Per segment.
    pub segments: Vec<Vec<StatAcc>>,
    /// Parties.
    pub parties: Vec<StatAcc>,
    /// Depleted by the end of each ledger year (cumulative).
    pub depleted_by: Vec<ProbAcc>,
    /// First depleted in each ledger year.
    pub first_depletion: Vec<ProbAcc>,
    /// Budget exceeded in each ledger year.
    pub budget_exceeded: Vec<ProbAcc>,
    /// Every approved claim paid in full.
    pub all_paid: ProbAcc,
    /// Bank suspended in any year.
    pub bank_suspended: Vec<ProbAcc>,
    /// Segments' then banks' parts of total claims, for ES contributions.
    pub claim_parts: Contributions,
}

impl Accumulator {
    /// Empty accumulators shaped for `model`.
    pub fn new(model: &Model) -> Self {
        let l = model.ledger_years;
        let banks = model.portfolio.banks.len();
        let segments = model.portfolio.segments.len();
        // Balances sit near the pool's money: take their moments about it.
        let money = model.scenario.pool_resources();
        let row = |n: usize, balance_slot: Option<usize>| -> Vec<StatAcc> {
            (0..n)
                .map(|i| StatAcc::new(if Some(i) == balance_slot { money } else { 0.0 }))
                .collect()
        };
        Self {
            paths: 0,
            weight: ProbAcc::default(),
            totals: row(slot::COUNT, Some(slot::BALANCE)),
            years: (0..l)
                .map(|_| row(slot::COUNT, Some(slot::BALANCE)))
                .collect(),
            banks: (0..banks).map(|_| row(slot::BANK_COUNT, None)).collect(),
            segments: (0..segments)
                .map(|_| row(slot::SEGMENT_COUNT, None))
                .collect(),
            parties: row(slot::PARTY_COUNT, None),
            depleted_by: vec![ProbAcc::default(); l],
            first_depletion: vec![ProbAcc::default(); l],
            budget_exceeded: vec![ProbAcc::default(); l],
            all_paid: ProbAcc::default(),
            bank_suspended: vec![ProbAcc::default(); banks],
            claim_parts: Contributions::new(segments + banks),
        }
    }

    /// Adds one path of likelihood-ratio weight `w`.
    pub fn add(&mut self, o: &PathOutcome, w: f64) {
        let wfx = fixed_weight(w);
        self.paths += 1;
        self.weight.hit(w);
        for (acc, &v) in self.totals.iter_mut().zip(&o.totals) {
            acc.add(v, w, wfx);
        }
        for (accs, vals) in self.years.iter_mut().zip(&o.years) {
            for (acc, &v) in accs.iter_mut().zip(vals) {
                acc.add(v, w, wfx);
            }
        }
        for (accs, vals) in self.banks.iter_mut().zip(&o.banks) {
            for (acc, &v) in accs.iter_mut().zip(vals) {
                acc.add(v, w, wfx);
            }
        }
        for (accs, vals) in self.segments.iter_mut().zip(&o.segments) {
            for (acc, &v) in accs.iter_mut().zip(vals) {
                acc.add(v, w, wfx);
            }
        }
        for (acc, &v) in self.parties.iter_mut().zip(&o.parties) {
            acc.add(v, w, wfx);
        }
        let mut ever = false;
        for (t, &d) in o.depleted.iter().enumerate() {
            if d && !ever {
                self.first_depletion[t].hit(w);
                ever = true;
            }
            if ever {
                self.depleted_by[t].hit(w);
            }
        }
        for (acc, &b) in self.budget_exceeded.iter_mut().zip(&o.budget_exceeded) {
            if b {
                acc.hit(w);
            }
        }
        if o.totals[slot::SHORTFALL] <= 0.0 {
            self.all_paid.hit(w);
        }
        for (acc, &s) in self.bank_suspended.iter_mut().zip(&o.bank_suspended) {
            if s {
                acc.hit(w);
            }
        }
        self.claim_parts
            .add(o.totals[slot::CLAIMS], &o.claim_parts, w, wfx);
    }

    fn for_each_stat(&mut self, mut f: impl FnMut(&mut StatAcc)) {
        self.totals.iter_mut().for_each(&mut f);
        self.years.iter_mut().flatten().for_each(&mut f);
        self.banks.iter_mut().flatten().for_each(&mut f);
        self.segments.iter_mut().flatten().for_each(&mut f);
        self.parties.iter_mut().for_each(&mut f);
    }

    fn for_each_prob(&mut self, mut f: impl FnMut(&mut ProbAcc)) {
        f(&mut self.weight);
        self.depleted_by.iter_mut().for_each(&mut f);
        self.first_depletion.iter_mut().for_each(&mut f);
        self.budget_exceeded.iter_mut().for_each(&mut f);
        f(&mut self.all_paid);
        self.bank_suspended.iter_mut().for_each(&mut f);
    }

    /// Ends a batch: its partial sums move into the exact totals.
    pub fn flush(&mut self) {
        self.for_each_stat(StatAcc::flush);
        self.for_each_prob(ProbAcc::flush);
    }

    /// Adds another (flushed) accumulator into this one.
    pub fn merge(&mut self, other: &Accumulator) {
        self.paths += other.paths;
        self.weight.merge(&other.weight);
        let zip_stats =
            |a: &mut [StatAcc], b: &[StatAcc]| a.iter_mut().zip(b).for_each(|(x, y)| x.merge(y));
        zip_stats(&mut self.totals, &other.totals);
        for (a, b) in self.years.iter_mut().zip(&other.years) {
            zip_stats(a, b);
        }
        for (a, b) in self.banks.iter_mut().zip(&other.banks) {
            zip_stats(a, b);
        }
        for (a, b) in self.segments.iter_mut().zip(&other.segments) {
            zip_stats(a, b);
        }
        zip_stats(&mut self.parties, &other.parties);
        let zip_probs =
            |a: &mut [ProbAcc], b: &[ProbAcc]| a.iter_mut().zip(b).for_each(|(x, y)| x.merge(y));
        zip_probs(&mut self.depleted_by, &other.depleted_by);
        zip_probs(&mut self.first_depletion, &other.first_depletion);
        zip_probs(&mut self.budget_exceeded, &other.budget_exceeded);
        self.all_paid.merge(&other.all_paid);
        zip_probs(&mut self.bank_suspended, &other.bank_suspended);
        self.claim_parts.merge(&other.claim_parts);
    }
}
