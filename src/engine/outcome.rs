//! What one path produces, and the accumulator that gathers paths.
//!
//! A [`PathOutcome`] holds every figure of one path in the fixed slots of a
//! [`Layout`]; the [`Accumulator`] keeps one mergeable accumulator per slot.
//! Paths are first gathered in a [`BatchBuffer`], column by column, and each
//! column is folded into its accumulator at the end of the batch: the
//! sketches of one figure stay in cache while its values go in.
//! Accumulators merge exactly, so the merged result does not depend on which
//! worker ran which batch.

use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::stats::{Contributions, ProbAcc, StatAcc};

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

/// Where each figure of a path lives in a flat array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Ledger years.
    pub years: usize,
    /// Banks.
    pub banks: usize,
    /// Segments.
    pub segments: usize,
}

impl Layout {
    /// The layout of `model`'s figures.
    pub fn of(model: &Model) -> Self {
        Self {
            years: model.ledger_years,
            banks: model.portfolio.banks.len(),
            segments: model.portfolio.segments.len(),
        }
    }

    /// Index of a total's slot.
    #[inline]
    pub fn total(&self, s: usize) -> usize {
        s
    }

    /// Index of a slot of ledger year `t` (0-based).
    #[inline]
    pub fn year(&self, t: usize, s: usize) -> usize {
        slot::COUNT * (1 + t) + s
    }

    /// Index of slot `k` of bank `b`.
    #[inline]
    pub fn bank(&self, b: usize, k: usize) -> usize {
        slot::COUNT * (1 + self.years) + slot::BANK_COUNT * b + k
    }

    /// Index of slot `k` of segment `s`.
    #[inline]
    pub fn segment(&self, s: usize, k: usize) -> usize {
        slot::COUNT * (1 + self.years) + slot::BANK_COUNT * self.banks + slot::SEGMENT_COUNT * s + k
    }

    /// Index of party `k` (bank, insurer, guarantor).
    #[inline]
    pub fn party(&self, k: usize) -> usize {
        self.segment(self.segments, 0) + k
    }

    /// Number of figures.
    pub fn len(&self) -> usize {
        self.party(slot::PARTY_COUNT)
    }

    /// Whether there are no figures (never: totals always exist).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// For each figure, an earlier figure the path computes the same way in
    /// common cases (approved = claims without bank rules, one bank's
    /// figures = the totals, paid = approved when the pool pays in full...).
    /// While the two stay equal, the later one is not accumulated twice.
    fn alias_candidates(&self, claim_lag: usize) -> Vec<Option<usize>> {
        let mut c = vec![None; self.len()];
        c[self.total(slot::APPROVED)] = Some(self.total(slot::CLAIMS));
        c[self.total(slot::PAID)] = Some(self.total(slot::APPROVED));
        for t in 0..self.years {
            if t >= claim_lag {
                c[self.year(t, slot::APPROVED)] = Some(self.year(t - claim_lag, slot::CLAIMS));
            }
            c[self.year(t, slot::PAID)] = Some(self.year(t, slot::APPROVED));
            if self.years == 1 {
                for s in [
                    slot::LOSS,
                    slot::CLAIMS,
                    slot::SUSPENDED,
                    slot::SHORTFALL,
                    slot::RECOVERIES,
                    slot::BALANCE,
                ] {
                    c[self.year(t, s)] = Some(self.total(s));
                }
                c[self.year(t, slot::APPROVED)] = Some(self.total(slot::APPROVED));
                c[self.year(t, slot::PAID)] = Some(self.total(slot::PAID));
            }
        }
        // The final balance is the last year's balance.
        if self.years > 1 {
            c[self.year(self.years - 1, slot::BALANCE)] = Some(self.total(slot::BALANCE));
        }
        if self.banks == 1 {
            let totals = [
                slot::LOSS,
                slot::CLAIMS,
                slot::APPROVED,
                slot::PAID,
                slot::SUSPENDED,
            ];
            for (k, s) in totals.into_iter().enumerate() {
                c[self.bank(0, k)] = Some(self.total(s));
            }
        }
        for s in 0..self.segments {
            c[self.segment(s, 2)] = Some(self.segment(s, 1));
        }
        if self.segments == 1 {
            for (k, s) in [slot::LOSS, slot::CLAIMS, slot::PAID]
                .into_iter()
                .enumerate()
            {
                c[self.segment(0, k)] = Some(self.total(s));
            }
        }
        c
    }

    /// Where moments of each figure are taken about: balances about the
    /// pool's money (no cancellation in their variance), the rest about 0.
    fn shifts(&self, money: f64) -> Vec<f64> {
        let mut v = vec![0.0; self.len()];
        v[self.total(slot::BALANCE)] = money;
        for t in 0..self.years {
            v[self.year(t, slot::BALANCE)] = money;
        }
        v
    }
}

/// Every figure of one simulated path.
#[derive(Clone, Debug)]
pub struct PathOutcome {
    /// Figures, in the slots of a [`Layout`].
    pub values: Vec<f64>,
    /// Whether the pool was depleted in each ledger year.
    pub depleted: Vec<bool>,
    /// Whether approved claims due exceeded the budget in each ledger year.
    pub budget_exceeded: Vec<bool>,
    /// Whether each bank was suspended in any year.
    pub bank_suspended: Vec<bool>,
}

impl PathOutcome {
    /// A zeroed outcome of the given layout.
    pub fn new(layout: Layout) -> Self {
        Self {
            values: vec![0.0; layout.len()],
            depleted: vec![false; layout.years],
            budget_exceeded: vec![false; layout.years],
            bank_suspended: vec![false; layout.banks],
        }
    }
}

/// A batch's figures, column by column, waiting to be folded in.
pub struct BatchBuffer {
    /// Paths' figures, one row per path (appending a path is one copy).
    rows: Vec<f64>,
    width: usize,
    weights: Vec<f64>,
    /// One figure's column, gathered for folding.
    column: Vec<f64>,
}

impl BatchBuffer {
    /// An empty buffer for `layout`.
    pub fn new(layout: Layout) -> Self {
        Self {
            rows: Vec::new(),
            width: layout.len(),
            weights: Vec::new(),
            column: Vec::new(),
        }
    }

    /// Whether figures `i` and `j` are equal, bit for bit, on every path.
    fn same(&self, i: usize, j: usize) -> bool {
        self.rows
            .chunks_exact(self.width)
            .all(|r| r[i].to_bits() == r[j].to_bits())
    }

    /// Gathers figure `i`'s column into `self.column`.
    fn gather(&mut self, i: usize) {
        self.column.clear();
        self.column
            .extend(self.rows.chunks_exact(self.width).map(|r| r[i]));
    }
}

/// Mergeable accumulators for every figure of [`PathOutcome`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    /// Where each figure lives.
    pub layout: Layout,
    /// Paths added.
    pub paths: u64,
    /// Sum of path weights (equal to `paths` for plain sampling).
    pub weight: ProbAcc,
    /// One accumulator per figure, in the slots of `layout`.
    pub stats: Vec<StatAcc>,
    /// Depleted by the end of each ledger year (cumulative).
    pub depleted_by: Vec<ProbAcc>,
    /// First depleted in each ledger year.
    pub first_depletion: Vec<ProbAcc>,
    /// Budget exceeded in each ledger year.
    pub budget_exceeded: Vec<ProbAcc>,
    /// Some approved claim not paid in full (the complement of "every
    /// approved claim paid in full", estimated this way because under
    /// importance sampling the rare event is the one to count).
    pub some_unpaid: ProbAcc,
    /// Bank suspended in any year.
    pub bank_suspended: Vec<ProbAcc>,
    /// Segments' then banks' parts of total claims, for ES contributions.
    pub claim_parts: Contributions,
    /// Figures still equal, in every batch so far, to an earlier figure
    /// (see `Layout::alias_candidates`): their accumulators are that
    /// figure's, copied when they first differ or when the run settles.
    #[serde(skip)]
    alias: Vec<Option<usize>>,
}

impl Accumulator {
    /// Empty accumulators shaped for `model`.
    pub fn new(model: &Model) -> Self {
        let layout = Layout::of(model);
        let shifts = layout.shifts(model.scenario.pool_resources());
        // At most about 32 MB of waiting values per worker (twice that with
        // importance weights), however many figures.
        let defer = (4_000_000 / layout.len()).clamp(256, crate::stats::sketch::DEFER);
        Self {
            layout,
            paths: 0,
            weight: ProbAcc::default(),
            stats: shifts
                .into_iter()
                .map(|s| StatAcc::with_defer(s, defer))
                .collect(),
            depleted_by: vec![ProbAcc::default(); layout.years],
            first_depletion: vec![ProbAcc::default(); layout.years],
            budget_exceeded: vec![ProbAcc::default(); layout.years],
            some_unpaid: ProbAcc::default(),
            bank_suspended: vec![ProbAcc::default(); layout.banks],
            claim_parts: Contributions::new(layout.segments + layout.banks),
            alias: layout.alias_candidates(model.scenario.pool.claim_lag_years as usize),
        }
    }

    /// The accumulator of figure `index` (see [`Layout`]).
    pub fn stat(&self, index: usize) -> &StatAcc {
        &self.stats[index]
    }

    /// Adds one path of likelihood-ratio weight `w`: its events now, its
    /// figures into `buffer` until [`Accumulator::flush`].
    pub fn add(&mut self, o: &PathOutcome, w: f64, buffer: &mut BatchBuffer) {
        self.paths += 1;
        self.weight.hit(w);
        buffer.rows.extend_from_slice(&o.values);
        buffer.weights.push(w);
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
        if o.values[slot::SHORTFALL] > 0.0 {
            self.some_unpaid.hit(w);
        }
        for (acc, &s) in self.bank_suspended.iter_mut().zip(&o.bank_suspended) {
            if s {
                acc.hit(w);
            }
        }
    }

    /// The figure whose accumulator stands for figure `i`.
    fn root(&self, mut i: usize) -> usize {
        while let Some(j) = self.alias[i] {
            i = j;
        }
        i
    }

    /// Ends a batch: folds the buffered figures in, column by column, and
    /// moves every partial sum into the exact totals.
    pub fn flush(&mut self, buffer: &mut BatchBuffer) {
        // A figure that differs from the one it has equalled so far takes a
        // copy of that one's accumulator as it stood before this batch.
        for i in 0..self.alias.len() {
            let Some(j) = self.alias[i] else { continue };
            if !buffer.same(i, j) {
                self.stats[i] = self.stats[self.root(j)].clone();
                self.alias[i] = None;
            }
        }
        // Contributions to the ES of total claims: segments' then banks'.
        let lay = self.layout;
        let parts: Vec<usize> = (0..lay.segments)
            .map(|s| lay.segment(s, 1))
            .chain((0..lay.banks).map(|b| lay.bank(b, 1)))
            .collect();
        self.claim_parts.add_rows(
            &buffer.rows,
            buffer.width,
            lay.total(slot::CLAIMS),
            &parts,
            &buffer.weights,
        );
        for i in 0..self.stats.len() {
            if self.alias[i].is_none() {
                buffer.gather(i);
                self.stats[i].add_batch(&buffer.column, &buffer.weights);
            }
        }
        buffer.rows.clear();
        buffer.weights.clear();
        self.weight.flush();
        for p in self
            .depleted_by
            .iter_mut()
            .chain(&mut self.first_depletion)
            .chain(&mut self.budget_exceeded)
            .chain(&mut self.bank_suspended)
        {
            p.flush();
        }
        self.some_unpaid.flush();
    }

    /// Settles every deferred value (see [`crate::stats::Sketch::settle`]):
    /// needed before results are read or accumulators compared.
    pub fn settle(&mut self) {
        for s in &mut self.stats {
            s.settle();
        }
        for i in 0..self.alias.len() {
            if self.alias[i].is_some() {
                self.stats[i] = self.stats[self.root(i)].clone();
            }
        }
        self.alias.fill(None);
    }

    /// Adds another (flushed, settled) accumulator into this one (settling
    /// this one first).
    pub fn merge(&mut self, other: &Accumulator) {
        self.settle();
        assert!(
            other.alias.iter().all(Option::is_none),
            "merging an accumulator that is not settled"
        );
        self.paths += other.paths;
        self.weight.merge(&other.weight);
        for (a, b) in self.stats.iter_mut().zip(&other.stats) {
            a.merge(b);
        }
        let zip =
            |a: &mut [ProbAcc], b: &[ProbAcc]| a.iter_mut().zip(b).for_each(|(x, y)| x.merge(y));
        zip(&mut self.depleted_by, &other.depleted_by);
        zip(&mut self.first_depletion, &other.first_depletion);
        zip(&mut self.budget_exceeded, &other.budget_exceeded);
        self.some_unpaid.merge(&other.some_unpaid);
        zip(&mut self.bank_suspended, &other.bank_suspended);
        self.claim_parts.merge(&other.claim_parts);
    }
}
