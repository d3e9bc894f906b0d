//! What one path produces, and the accumulator that gathers paths.
//!
//! A [`PathOutcome`] holds every figure of one path in the fixed slots of a
//! [`Layout`]; the [`Accumulator`] keeps one mergeable accumulator per slot.
//! Paths are first gathered in a [`BatchBuffer`], one row per path, and
//! folded in at the end of the batch: every figure's moments in one pass
//! over the rows, then the sketches column by column, so that the sketches
//! of one figure stay in cache while its values go in. Figures that equal
//! another one (or zero) on almost every path share its sketch on those
//! paths (see [`Sharing`]), which changes the work but no result.
//! Accumulators merge exactly, so the merged result does not depend on which
//! worker ran which batch.

use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::stats::{Contributions, ProbAcc, Sketch, StatAcc, Weights, fixed_weight, moment_terms};

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

    /// Bank slots: loss, claims, approved, paid, suspended ([`bank`]).
    pub const BANK_COUNT: usize = 5;
    /// Segment slots: loss, claims, paid ([`segment`]).
    pub const SEGMENT_COUNT: usize = 3;

    /// Slots of a bank's entry.
    pub mod bank {
        /// Principal loss on the bank's loans (by default year).
        pub const LOSS: usize = 0;
        /// The bank's claims on the pool (by default year).
        pub const CLAIMS: usize = 1;
        /// Its claims approved after the bank rules.
        pub const APPROVED: usize = 2;
        /// Paid by the pool.
        pub const PAID: usize = 3;
        /// Claims voided by its suspension.
        pub const SUSPENDED: usize = 4;
    }

    /// Slots of a segment's entry.
    pub mod segment {
        /// Principal loss on the segment's loans (by default year).
        pub const LOSS: usize = 0;
        /// Claims on the pool (by default year).
        pub const CLAIMS: usize = 1;
        /// Paid by the pool.
        pub const PAID: usize = 2;
    }
    /// Parties: bank, insurer, guarantor ([`party`]).
    pub const PARTY_COUNT: usize = 3;

    /// Slots of the parties other than the pool.
    pub mod party {
        /// What the banks bear.
        pub const BANK: usize = 0;
        /// What the insurer bears.
        pub const INSURER: usize = 1;
        /// What the guarantor bears.
        pub const GUARANTOR: usize = 2;
    }
}

/// A path's figures split by [`Layout::rows`]: the totals (by [`slot`]),
/// each ledger year's row (by [`slot`]), each bank's and each segment's
/// (their own slots), and the parties.
pub struct Rows<'a> {
    /// The totals over the horizon.
    pub totals: &'a mut [f64],
    /// One row per ledger year.
    pub years: &'a mut [[f64; slot::COUNT]],
    /// One row per bank (by [`slot::bank`]).
    pub banks: &'a mut [[f64; slot::BANK_COUNT]],
    /// One row per segment (by [`slot::segment`]).
    pub segments: &'a mut [[f64; slot::SEGMENT_COUNT]],
    /// The parties (by [`slot::party`]).
    pub parties: &'a mut [f64],
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

    /// A path's figures (`values`, laid out by this layout) as rows of
    /// fixed size, one group of figures each: writing through them needs no
    /// index arithmetic and no checks inside a row.
    #[inline]
    pub fn rows<'a>(&self, values: &'a mut [f64]) -> Rows<'a> {
        let (totals, rest) = values.split_at_mut(slot::COUNT);
        let (years, rest) = rest.split_at_mut(slot::COUNT * self.years);
        let (banks, rest) = rest.split_at_mut(slot::BANK_COUNT * self.banks);
        let (segments, parties) = rest.split_at_mut(slot::SEGMENT_COUNT * self.segments);
        Rows {
            totals,
            years: years.as_chunks_mut().0,
            banks: banks.as_chunks_mut().0,
            segments: segments.as_chunks_mut().0,
            parties,
        }
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
            for (k, s) in [
                (slot::bank::LOSS, slot::LOSS),
                (slot::bank::CLAIMS, slot::CLAIMS),
                (slot::bank::APPROVED, slot::APPROVED),
                (slot::bank::PAID, slot::PAID),
                (slot::bank::SUSPENDED, slot::SUSPENDED),
            ] {
                c[self.bank(0, k)] = Some(self.total(s));
            }
        }
        for s in 0..self.segments {
            c[self.segment(s, slot::segment::PAID)] = Some(self.segment(s, slot::segment::CLAIMS));
        }
        if self.segments == 1 {
            for (k, s) in [
                (slot::segment::LOSS, slot::LOSS),
                (slot::segment::CLAIMS, slot::CLAIMS),
                (slot::segment::PAID, slot::PAID),
            ] {
                c[self.segment(0, k)] = Some(self.total(s));
            }
        }
        c
    }

    /// For each figure, what a path's value of it equals in common cases:
    /// an earlier figure (see [`Layout::alias_candidates`]) or, for figures
    /// that only some rules or rare events make non-zero (suspensions,
    /// shortfalls, recoveries, the insurer's and guarantor's parts), zero.
    fn links(&self, claim_lag: usize) -> Vec<Option<Link>> {
        let mut zero = vec![false; self.len()];
        for s in [slot::SUSPENDED, slot::SHORTFALL, slot::RECOVERIES] {
            zero[self.total(s)] = true;
            for t in 0..self.years {
                zero[self.year(t, s)] = true;
            }
        }
        for b in 0..self.banks {
            zero[self.bank(b, slot::bank::SUSPENDED)] = true;
        }
        zero[self.party(slot::party::INSURER)] = true;
        zero[self.party(slot::party::GUARANTOR)] = true;
        self.alias_candidates(claim_lag)
            .into_iter()
            .zip(zero)
            .map(|(c, z)| match c {
                Some(j) => Some(Link::Figure(j)),
                None if z => Some(Link::Zero),
                None => None,
            })
            .collect()
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

/// What a figure equals on a common path (see [`Sharing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// This figure.
    Figure(usize),
    /// Zero.
    Zero,
}

/// A batch's figures, one row per path, waiting to be folded in.
pub struct BatchBuffer {
    /// Paths' figures, one row per path (appending a path is one copy).
    rows: Vec<f64>,
    width: usize,
    weights: Vec<f64>,
    /// Scratch for folding a batch in: the common paths' weights, the
    /// uncommon paths (row numbers), each figure's partial sums of moments,
    /// and how often each link failed.
    common_weights: Vec<f64>,
    uncommon: Vec<usize>,
    moments: [Vec<f64>; 3],
    shifts: Vec<f64>,
    failures: Vec<u32>,
}

impl BatchBuffer {
    /// An empty buffer for `layout`.
    pub fn new(layout: Layout) -> Self {
        Self {
            rows: Vec::new(),
            width: layout.len(),
            weights: Vec::new(),
            common_weights: Vec::new(),
            uncommon: Vec::new(),
            moments: [Vec::new(), Vec::new(), Vec::new()],
            shifts: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The paths that are not uncommon, in order, as runs of path numbers.
    fn common_runs(&self) -> impl Iterator<Item = std::ops::Range<usize>> + use<'_> {
        let mut start = 0;
        self.uncommon
            .iter()
            .copied()
            .chain(std::iter::once(self.weights.len()))
            .map(move |u| {
                let run = start..u;
                start = u + 1;
                run
            })
    }
}

/// Sketches shared between figures that are equal on most paths.
///
/// Many figures equal another one, or zero, on almost every path: paid
/// equals approved unless the pool falls short, approved equals claims
/// without bank rules, a single bank's figures are the totals, shortfalls
/// and suspensions are zero. Each such figure is *linked* to what it
/// usually equals ([`Layout::links`]). A path on which every link holds is
/// *common*; the others are *uncommon*. On a common path only the figures
/// without a link (roots) go into sketches; on an uncommon path every figure
/// goes into its own. A root that other figures link to keeps its common
/// paths in a sketch of its own until the next fold, which merges that
/// sketch into the root's and into every figure linked to it (figures
/// linked to zero get the common paths' weight as zeros).
///
/// Sketch buckets are exact and do not depend on the order values arrive
/// in, so every sketch ends up bit for bit as if each figure of each path
/// had gone into its own; the moments are summed for every figure on every
/// path, whatever the links. Which paths are common thus changes only the
/// work, never a result: a link that fails on more than 1% of a batch's
/// paths (its figure is not that rare) is dropped after a fold.
#[derive(Clone, Debug, Default, PartialEq)]
struct Sharing {
    links: Vec<Option<Link>>,
    /// The links to check on each path: pairs of figures that should be
    /// equal, then figures that should be zero.
    pairs: Vec<(usize, usize)>,
    zeros: Vec<usize>,
    /// For roots that figures link to: their common paths since the last
    /// fold.
    common: Vec<Option<Sketch>>,
    /// Fixed-point weight of the common paths since the last fold.
    common_weight: u128,
    defer: usize,
}

impl Sharing {
    fn new(links: Vec<Option<Link>>, defer: usize) -> Self {
        let mut s = Self {
            links,
            defer,
            ..Self::default()
        };
        s.rebuild();
        s
    }

    /// The checks and common sketches of the current links (after a fold).
    fn rebuild(&mut self) {
        self.pairs.clear();
        self.zeros.clear();
        self.common = vec![None; self.links.len()];
        for (i, link) in self.links.iter().enumerate() {
            match link {
                Some(Link::Figure(j)) => {
                    // Links point to earlier figures (`Layout::links`):
                    // both indices are below `links.len()`, as `common`
                    // relies on.
                    assert!(
                        *j < self.links.len(),
                        "link from figure {i} to {j}, beyond the layout"
                    );
                    self.pairs.push((i, *j));
                }
                Some(Link::Zero) => self.zeros.push(i),
                None => {}
            }
        }
        for i in 0..self.links.len() {
            if self.links[i].is_some()
                && let Link::Figure(r) = self.root(i)
            {
                self.common[r].get_or_insert_with(|| Sketch::with_defer(self.defer));
            }
        }
    }

    /// Where figure `i`'s chain of links ends: a figure without a link
    /// (`i` itself when it has none), or zero.
    fn root(&self, mut i: usize) -> Link {
        loop {
            match self.links.get(i).copied().flatten() {
                None => return Link::Figure(i),
                Some(Link::Zero) => return Link::Zero,
                Some(Link::Figure(j)) => i = j,
            }
        }
    }

    /// Number of checks (pairs, then zeros).
    fn checks(&self) -> usize {
        self.pairs.len() + self.zeros.len()
    }

    /// The figure whose link check `c` is.
    fn checked(&self, c: usize) -> usize {
        if c < self.pairs.len() {
            self.pairs[c].0
        } else {
            self.zeros[c - self.pairs.len()]
        }
    }

    /// Whether every link holds on `row`.
    #[inline]
    fn common(&self, row: &[f64]) -> bool {
        // Every index in the checks is below `links.len()` (see `rebuild`):
        // one test here instead of one per look-up.
        assert!(
            row.len() >= self.links.len(),
            "row narrower than the layout"
        );
        let bits = |i: usize| {
            // SAFETY: `i < links.len() <= row.len()`, asserted above.
            unsafe { row.get_unchecked(i).to_bits() }
        };
        let mut differ = 0;
        for &(i, j) in &self.pairs {
            differ |= bits(i) ^ bits(j);
        }
        for &i in &self.zeros {
            differ |= bits(i);
        }
        differ == 0
    }

    /// Counts, for an uncommon `row`, the links that fail on it.
    fn count_failures(&self, row: &[f64], failures: &mut [u32]) {
        for (c, f) in failures.iter_mut().enumerate() {
            let holds = if c < self.pairs.len() {
                let (i, j) = self.pairs[c];
                row[i].to_bits() == row[j].to_bits()
            } else {
                row[self.zeros[c - self.pairs.len()]].to_bits() == 0
            };
            *f += u32::from(!holds);
        }
    }

    /// Gives every figure its share of the common paths so far.
    fn fold(&mut self, stats: &mut [StatAcc]) {
        for c in self.common.iter_mut().flatten() {
            c.settle();
        }
        let roots: Vec<Link> = (0..stats.len()).map(|i| self.root(i)).collect();
        // The last figure of each root takes the common sketch itself (its
        // chunks moved, not copied); the others add a copy.
        let mut last = vec![usize::MAX; self.common.len()];
        for (i, root) in roots.iter().enumerate() {
            if let Link::Figure(r) = *root
                && let Some(l) = last.get_mut(r)
            {
                *l = i;
            }
        }
        for ((i, stat), root) in stats.iter_mut().enumerate().zip(roots) {
            match root {
                Link::Zero => stat.sketch_mut().add_zero_weight(self.common_weight),
                Link::Figure(r) => {
                    if let Some(Some(c)) = self.common.get_mut(r) {
                        if last[r] == i {
                            let c = std::mem::replace(c, Sketch::with_defer(self.defer));
                            stat.sketch_mut().merge_owned(c);
                        } else {
                            stat.sketch_mut().merge(c);
                        }
                    }
                }
            }
        }
        self.common_weight = 0;
        for c in self.common.iter_mut().flatten() {
            *c = Sketch::with_defer(self.defer);
        }
    }

    /// Whether nothing is shared or waiting (the state after a settle).
    fn is_idle(&self) -> bool {
        self.links.iter().all(Option::is_none) && self.common_weight == 0
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
    /// Sketches shared between figures until the run settles.
    #[serde(skip)]
    sharing: Sharing,
}

impl Accumulator {
    /// Empty accumulators shaped for `model`.
    pub fn new(model: &Model) -> Self {
        let layout = Layout::of(model);
        Self::shaped(
            layout,
            layout.shifts(model.scenario.pool_resources()),
            layout.links(model.scenario.pool.claim_lag_years as usize),
        )
    }

    /// Empty accumulators for `layout`, with moments about `shifts` and
    /// sketches shared along `links`.
    fn shaped(layout: Layout, shifts: Vec<f64>, links: Vec<Option<Link>>) -> Self {
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
            sharing: Sharing::new(links, defer),
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

    /// Ends a batch: folds the buffered figures in and moves every partial
    /// sum into the exact totals.
    pub fn flush(&mut self, buffer: &mut BatchBuffer) {
        let width = buffer.width;
        let n = buffer.weights.len();
        // Which paths are uncommon, and which links failed on them.
        buffer.uncommon.clear();
        buffer.failures.clear();
        buffer.failures.resize(self.sharing.checks(), 0);
        if self.sharing.checks() > 0 {
            for (r, row) in buffer.rows.chunks_exact(width).enumerate() {
                if !self.sharing.common(row) {
                    buffer.uncommon.push(r);
                    self.sharing.count_failures(row, &mut buffer.failures);
                }
            }
        }
        self.add_moments(buffer);
        // Contributions to the ES of total claims: segments' then banks'.
        let lay = self.layout;
        let parts: Vec<usize> = (0..lay.segments)
            .map(|s| lay.segment(s, slot::segment::CLAIMS))
            .chain((0..lay.banks).map(|b| lay.bank(b, slot::bank::CLAIMS)))
            .collect();
        self.claim_parts.add_rows(
            &buffer.rows,
            buffer.width,
            lay.total(slot::CLAIMS),
            &parts,
            &buffer.weights,
        );
        self.add_sketches(buffer);
        // Links that failed on more than 1% of the batch's paths go.
        let dropped: Vec<usize> = (0..buffer.failures.len())
            .filter(|&c| buffer.failures[c] as usize * 100 > n)
            .map(|c| self.sharing.checked(c))
            .collect();
        if !dropped.is_empty() {
            self.sharing.fold(&mut self.stats);
            for i in dropped {
                self.sharing.links[i] = None;
            }
            self.sharing.rebuild();
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

    /// Every figure's moments over the batch, summed path by path in order
    /// (what [`StatAcc::add_batch`] does column by column, in one pass).
    fn add_moments(&mut self, buffer: &mut BatchBuffer) {
        let width = buffer.width;
        buffer.shifts.clear();
        buffer.shifts.extend(self.stats.iter().map(StatAcc::shift));
        let [s1, s2, s3] = &mut buffer.moments;
        for s in [&mut *s1, &mut *s2, &mut *s3] {
            s.clear();
            s.resize(width, 0.0);
        }
        let shifts = &buffer.shifts[..width];
        let (s1, s2, s3) = (&mut s1[..width], &mut s2[..width], &mut s3[..width]);
        if buffer.weights.iter().all(|&w| w == 1.0) {
            // Unit weights: `moment_terms` with `w = 1` is `[d, d^2, d^2]`,
            // so the two squared sums are one.
            // Four rows at a time, each sum still taken row after row: the
            // sums are loaded and stored once per four rows.
            let mut blocks = buffer.rows.chunks_exact(4 * width);
            for block in &mut blocks {
                let (r0, rest) = block.split_at(width);
                let (r1, rest) = rest.split_at(width);
                let (r2, r3) = rest.split_at(width);
                for i in 0..width {
                    let shift = shifts[i];
                    let d0 = r0[i] - shift;
                    let d1 = r1[i] - shift;
                    let d2 = r2[i] - shift;
                    let d3 = r3[i] - shift;
                    s1[i] = s1[i] + d0 + d1 + d2 + d3;
                    s2[i] = s2[i] + d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
                }
            }
            for row in blocks.remainder().chunks_exact(width) {
                for i in 0..width {
                    let d = row[i] - shifts[i];
                    s1[i] += d;
                    s2[i] += d * d;
                }
            }
            s3.copy_from_slice(s2);
        } else {
            for (row, &w) in buffer.rows.chunks_exact(width).zip(&buffer.weights) {
                for i in 0..width {
                    let [t1, t2, t3] = moment_terms(row[i], shifts[i], w);
                    s1[i] += t1;
                    s2[i] += t2;
                    s3[i] += t3;
                }
            }
        }
        for (i, stat) in self.stats.iter_mut().enumerate() {
            stat.add_moments([s1[i], s2[i], s3[i]]);
        }
    }

    /// The batch's values into sketches: on common paths the roots only,
    /// column by column; on uncommon paths every figure.
    fn add_sketches(&mut self, buffer: &mut BatchBuffer) {
        let width = buffer.width;
        let mut weights = std::mem::take(&mut buffer.common_weights);
        weights.clear();
        for run in buffer.common_runs() {
            weights.extend_from_slice(&buffer.weights[run]);
        }
        let common = Weights::new(&weights);
        self.sharing.common_weight += common.fixed_total();
        for i in 0..width {
            if self.sharing.links.get(i).copied().flatten().is_some() {
                continue;
            }
            let sketch = match self.sharing.common.get_mut(i) {
                Some(Some(c)) => c,
                _ => self.stats[i].sketch_mut(),
            };
            sketch.extend_with(common, |pending| {
                for run in buffer.common_runs() {
                    let rows = &buffer.rows[run.start * width..run.end * width];
                    pending.extend(rows.chunks_exact(width).map(|r| r[i]));
                }
            });
        }
        buffer.common_weights = weights;
        for &u in &buffer.uncommon {
            let w = buffer.weights[u];
            let wfx = fixed_weight(w);
            let row = &buffer.rows[u * width..][..width];
            for (stat, &v) in self.stats.iter_mut().zip(row) {
                stat.sketch_mut().insert(v, w, wfx);
            }
        }
    }

    /// Settles every deferred value (see [`crate::stats::Sketch::settle`]):
    /// needed before results are read or accumulators compared. Figures
    /// stop sharing sketches from here on.
    pub fn settle(&mut self) {
        self.sharing.fold(&mut self.stats);
        self.sharing = Sharing::default();
        for s in &mut self.stats {
            s.settle();
        }
    }

    /// Adds another (flushed, settled) accumulator into this one (settling
    /// this one first).
    pub fn merge(&mut self, other: &Accumulator) {
        self.merge_counts(other);
        for (a, b) in self.stats.iter_mut().zip(&other.stats) {
            a.merge(b);
        }
    }

    /// [`Accumulator::merge`] taking the other accumulator by value: its
    /// sketches' chunks are moved rather than copied where they can be
    /// (the same result, see [`crate::stats::Sketch::merge_owned`]).
    pub fn merge_owned(&mut self, mut other: Accumulator) {
        self.merge_counts(&other);
        let stats = std::mem::take(&mut other.stats);
        for (a, b) in self.stats.iter_mut().zip(stats) {
            a.merge_owned(b);
        }
    }

    /// Everything of a merge but the figures' accumulators.
    fn merge_counts(&mut self, other: &Accumulator) {
        self.settle();
        assert!(
            other.sharing.is_idle(),
            "merging an accumulator that is not settled"
        );
        self.paths += other.paths;
        self.weight.merge(&other.weight);
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

#[cfg(test)]
mod tests {
    use super::super::sampler::unit;
    use super::*;
    use rand::SeedableRng;

    /// Shared sketches give, bit for bit, what every figure in its own
    /// gives: with links that hold, that fail on a few paths, and that fail
    /// so often they are dropped mid-run; with unit and other weights.
    #[test]
    fn sharing_changes_no_result() {
        let layout = Layout {
            years: 1,
            banks: 1,
            segments: 1,
        };
        let n = layout.len();
        let mut links = vec![None; n];
        links[1] = Some(Link::Figure(0)); // equal but on 0.3% of paths
        links[2] = Some(Link::Figure(1)); // a chain, always equal to 1
        links[3] = Some(Link::Zero); // zero but on 0.3% of paths
        links[4] = Some(Link::Figure(0)); // differs on 30%: dropped
        links[5] = Some(Link::Zero); // never zero: dropped at once
        links[6] = Some(Link::Figure(5)); // linked to a dropped link's figure
        let shifts: Vec<f64> = (0..n).map(|i| if i == 7 { 1e6 } else { 0.0 }).collect();
        for weighted in [false, true] {
            let mut shared = Accumulator::shaped(layout, shifts.clone(), links.clone());
            let mut alone = Accumulator::shaped(layout, shifts.clone(), vec![None; n]);
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
            let mut buffers = (BatchBuffer::new(layout), BatchBuffer::new(layout));
            let mut o = PathOutcome::new(layout);
            for batch in 0..12 {
                for _ in 0..700 {
                    let base = (unit(&mut rng) * 1e8).floor();
                    o.values.fill(0.0);
                    o.values[0] = base;
                    o.values[1] = if unit(&mut rng) < 0.003 {
                        base * 0.5
                    } else {
                        base
                    };
                    o.values[2] = o.values[1];
                    o.values[3] = if unit(&mut rng) < 0.003 { 12.5 } else { 0.0 };
                    o.values[4] = if unit(&mut rng) < 0.3 {
                        base + 1.0
                    } else {
                        base
                    };
                    o.values[5] = 3.0 + unit(&mut rng);
                    o.values[6] = o.values[5];
                    o.values[7] = 1e6 - base;
                    o.values[8] = unit(&mut rng) * 1e3;
                    let w = if weighted { 0.5 + unit(&mut rng) } else { 1.0 };
                    shared.add(&o, w, &mut buffers.0);
                    alone.add(&o, w, &mut buffers.1);
                }
                shared.flush(&mut buffers.0);
                alone.flush(&mut buffers.1);
                if batch == 0 {
                    assert!(shared.sharing.links[4].is_none());
                    assert!(shared.sharing.links[5].is_none());
                    assert!(shared.sharing.links[1].is_some());
                    assert!(shared.sharing.links[3].is_some());
                }
            }
            assert!(shared.sharing.links[1].is_some() && shared.sharing.links[6].is_some());
            shared.settle();
            alone.settle();
            assert!(shared == alone, "weighted: {weighted}");
            let s = shared.stat(3).summary(shared.paths);
            assert!(s.mean > 0.0 && s.quantiles.p99_9 > 0.0 && s.quantiles.p50 == 0.0);
        }
    }
}
