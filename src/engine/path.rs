//! One simulated path: factors, defaults by group, who pays what, the bank
//! rules and the pool's ledger (model.md sections 2 to 4).
//!
//! Given the factors, the loans of a group default independently with the
//! same probability, so the number of defaults is one exact Binomial draw
//! (see [`super::sampler`]); only the defaulted loans are then visited, and
//! their figures are summed into cells by default year, bank and segment.
//! Work per path grows with defaults, not loans. All scratch memory lives in
//! a [`Workspace`] reused across paths.

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, ChiSquared, Distribution, StandardNormal};

use super::outcome::{Layout, PathOutcome, Rows, slot};
use super::sampler::{Lanes16, PathRng, exact_binomial};
use crate::math::{norm_cdf, prefetch};
use crate::model::compensation::{basis_amount, own_claim};
use crate::model::ledger::{Ledger, exceeds};
use crate::model::{Figures, GroupKind, LgdKind, Model};
use crate::scenario::Basis;

/// The defaults of one default year, bank and segment, summed.
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    /// Principal loss (exposure x LGD).
    loss: f64,
    /// Loss basis (the loss, or the exposure on the outstanding basis).
    basis: f64,
    /// Claims on the pool: own shares capped per loan, plus insurer excess.
    claim: f64,
    /// What the claims recover if paid in full: claim x (1 - LGD).
    recovery: f64,
    /// Defaulted principal.
    exposure: f64,
}

/// A default year's totals over its cells.
#[derive(Clone, Copy, Debug, Default)]
struct YearTotals {
    loss: f64,
    claims: f64,
    basis: f64,
}

/// A default year's totals over one bank's cells.
#[derive(Clone, Copy, Debug, Default)]
struct BankYear {
    loss: f64,
    claims: f64,
    /// Defaulted principal.
    defaulted: f64,
}

/// Cells by default year and (bank, segment) pair, and the ones a path
/// touched. Only the pairs that occur in the portfolio have cells.
struct Cells {
    cells: Vec<Cell>,
    /// The touched cells, with their coordinates (kept when booking, so
    /// that the passes over them never divide to find them): the first
    /// `count` entries, room for every cell made once.
    touched: Box<[Touched]>,
    count: usize,
    /// Every cell's coordinates, by cell: what `touched` records.
    coordinates: Box<[Touched]>,
    /// Pairs per year.
    pairs: usize,
}

/// A touched cell: its index in `Cells::cells`, its year, and where its
/// year and bank and its year and segment are in the per-year arrays
/// (`t * banks + b`, `t * segments + s`).
#[derive(Clone, Copy, Debug, Default)]
struct Touched {
    i: u32,
    t: u32,
    tb: u32,
    ts: u32,
}

impl Touched {
    /// (year, year and bank, year and segment).
    #[inline]
    fn coordinates(&self) -> (usize, usize, usize) {
        (self.t as usize, self.tb as usize, self.ts as usize)
    }
}

impl Cells {
    fn new(years: usize, pairs: &[(u32, u32)], banks: usize, segments: usize) -> Self {
        let mut coordinates = Vec::with_capacity(years * pairs.len());
        for t in 0..years {
            for &(b, s) in pairs {
                coordinates.push(Touched {
                    i: coordinates.len() as u32,
                    t: t as u32,
                    tb: (t * banks) as u32 + b,
                    ts: (t * segments) as u32 + s,
                });
            }
        }
        Self {
            cells: vec![Cell::default(); years * pairs.len()],
            touched: vec![Touched::default(); years * pairs.len()].into_boxed_slice(),
            count: 0,
            coordinates: coordinates.into_boxed_slice(),
            pairs: pairs.len(),
        }
    }

    /// Adds `c` to the cell of year `t` and pair `pair`; the cell's
    /// coordinates when it was fresh.
    #[inline]
    fn book(&mut self, t: usize, pair: u32, c: &Cell) -> Option<Touched> {
        let i = t * self.pairs + pair as usize;
        let cell = &mut self.cells[i];
        // Every default has a positive exposure: a zero marks a fresh cell.
        if cell.exposure == 0.0 {
            // A cell is fresh once per path: `count` stays below the number
            // of cells.
            let k = self.coordinates[i];
            self.touched[self.count] = k;
            self.count += 1;
            // Zero plus a figure is the figure (none is negative): stored,
            // not added.
            *cell = *c;
            Some(k)
        } else {
            add(cell, c);
            None
        }
    }

    /// The touched cells, in the order they were first booked.
    #[inline]
    fn touched(&self) -> &[Touched] {
        &self.touched[..self.count]
    }

    fn clear(&mut self) {
        if 2 * self.count >= self.cells.len() {
            // Most cells touched (as in small portfolios): one sweep.
            self.cells.fill(Cell::default());
        } else {
            for k in &self.touched[..self.count] {
                self.cells[k.i as usize] = Cell::default();
            }
        }
        self.count = 0;
    }
}

/// A defaulted loan's cell figures from its fixed-LGD [`Figures`].
#[inline]
fn cell_of(f: &Figures, basis: Basis) -> Cell {
    Cell {
        loss: f.loss,
        basis: match basis {
            Basis::PrincipalLoss => f.loss,
            Basis::OutstandingPrincipal => f.exposure,
        },
        claim: f.claim,
        recovery: f.recovery,
        exposure: f.exposure,
    }
}

/// A defaulted loan's cell figures for a drawn LGD.
#[inline]
fn cell_with_lgd(basis_kind: Basis, exposure: f64, lgd: f64, share: f64, cap: f64) -> Cell {
    let basis = basis_amount(basis_kind, exposure, lgd);
    let claim = own_claim(share, basis, cap);
    Cell {
        loss: exposure * lgd,
        basis,
        claim,
        recovery: claim * (1.0 - lgd),
        exposure,
    }
}

/// A mixture of normal distributions `N(shift_k, I)` for the global
/// factor's yearly innovations (importance sampling).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mixture {
    /// The components.
    pub components: Vec<Component>,
    /// Cumulative probabilities as thresholds on a 64-bit number.
    thresholds: Vec<u64>,
}

/// One component of a [`Mixture`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Component {
    /// Its probability.
    pub probability: f64,
    /// Its mean of each default year's global innovation.
    pub shift: Vec<f64>,
    /// `ln probability - |shift|^2 / 2`.
    log_scale: f64,
}

impl Mixture {
    /// A mixture of `(probability, shift)` pairs (probabilities are
    /// normalised to add up to one).
    pub fn new(parts: Vec<(f64, Vec<f64>)>) -> Self {
        let total: f64 = parts.iter().map(|p| p.0).sum();
        let mut acc = 0.0;
        let mut thresholds = Vec::with_capacity(parts.len());
        let components: Vec<Component> = parts
            .into_iter()
            .map(|(p, shift)| {
                let probability = p / total;
                acc += probability;
                thresholds.push(if acc >= 1.0 {
                    u64::MAX
                } else {
                    (acc * 18_446_744_073_709_551_616.0) as u64
                });
                let norm2: f64 = shift.iter().map(|m| m * m).sum();
                Component {
                    probability,
                    log_scale: probability.ln() - 0.5 * norm2,
                    shift,
                }
            })
            .collect();
        if let Some(last) = thresholds.last_mut() {
            *last = u64::MAX;
        }
        Self {
            components,
            thresholds,
        }
    }

    /// The component a 64-bit random number picks.
    #[inline]
    fn pick(&self, u: u64) -> usize {
        self.thresholds
            .iter()
            .position(|&t| u < t)
            .unwrap_or(self.thresholds.len() - 1)
    }

    /// The likelihood ratio of innovations `eta`: `phi(eta) / sum_k p_k
    /// phi(eta - shift_k)` = `1 / sum_k exp(ln p_k - |shift_k|^2 / 2 +
    /// shift_k . eta)`, summed stably in logs; 1 for an empty mixture.
    pub fn weight(&self, eta: &[f64]) -> f64 {
        if self.components.is_empty() {
            return 1.0;
        }
        let mut best = f64::NEG_INFINITY;
        let mut terms = [0.0f64; 64];
        let many = self.components.len() > terms.len();
        let mut exps = Vec::new();
        for (k, c) in self.components.iter().enumerate() {
            let e = c.log_scale + c.shift.iter().zip(eta).map(|(m, x)| m * x).sum::<f64>();
            if many {
                exps.push(e);
            } else {
                terms[k] = e;
            }
            best = best.max(e);
        }
        let list = if many {
            &exps[..]
        } else {
            &terms[..self.components.len()]
        };
        let sum: f64 = list.iter().map(|&e| (e - best).exp()).sum();
        (-(best + sum.ln())).exp()
    }
}

/// Scratch memory for simulating paths of one model.
pub struct Workspace {
    layout: Layout,
    z: Vec<f64>,
    /// Picks the defaulted loans of renewed groups.
    selector: Selector,
    /// For groups of non-renewed loans: positions, active ones first.
    active: Vec<Vec<u32>>,
    active_count: Vec<usize>,
    /// Positions picked in a General group.
    picked: Vec<u32>,
    /// Each group's number of defaults in the year being drawn.
    defaults: Vec<u32>,
    /// Each group's argument `x` of its conditional PD `Phi(x)` this year,
    /// and where it falls in the group's tables.
    args: Vec<f64>,
    spots: Vec<Option<u32>>,
    /// Swaps made this path in `active`, undone at the next path's start.
    swaps: Vec<(u32, u32, u32)>,
    /// This path's seed for each default year.
    seeds: Vec<[u8; 32]>,
    cells: Cells,
    /// Whether every cell is booked at most once a path and no insurer
    /// changes it afterwards: each cell's year and bank totals are then
    /// added as it is booked, in the order [`Workspace::settle_years`]
    /// would add them.
    totals_at_booking: bool,
    /// Whether the years' loss basis is needed (an insurer or a guarantor).
    parties: bool,
    /// Whether banks' year totals are summed (several banks, or bank
    /// rules); else they are the year's, copied.
    per_bank: bool,
    /// Whether there are bank rules (else every bank's claims are approved
    /// whole: `bank_factor` stays 1).
    bank_rules: bool,
    /// Whether some group's loans are not renewed (and mature).
    maturing: bool,
    /// Per default year and bank (`t * banks + b`).
    bank_years: Vec<BankYear>,
    /// Active principal at the start of each default year, by bank (kept
    /// only when bank rules or an insurer read it).
    bank_active: Vec<f64>,
    bank_factor: Vec<f64>,
    /// Active principal of non-renewed loans per bank, as the path goes.
    nonrenew_active: Vec<f64>,
    nonrenew_start: Vec<f64>,
    renew_volume: Vec<f64>,
    /// Per default year and segment (`t * segments + s`), by segment slot.
    segment_year: Vec<[f64; slot::SEGMENT_COUNT]>,
    /// Per default year.
    years: Vec<YearTotals>,
    insurer_paid: Vec<f64>,
    guarantor_paid: Vec<f64>,
    /// Per ledger year.
    approved_due: Vec<f64>,
    suspended_due: Vec<f64>,
    recovery_base_due: Vec<f64>,
    paid_fraction: Vec<f64>,
    betas: Vec<Beta<f64>>,
    chi2: Option<(f64, ChiSquared<f64>)>,
    /// Importance sampling: the mixture the global factor's yearly
    /// innovations are drawn from (empty for plain sampling).
    mixture: Mixture,
    /// This path's mean of each year's global innovation (its component's).
    shift: Vec<f64>,
    /// This path's global innovations, as drawn.
    eta: Vec<f64>,
    /// The outcome of the last path.
    pub out: PathOutcome,
}

impl Workspace {
    /// Scratch memory shaped for `model`.
    pub fn new(model: &Model) -> Self {
        let layout = Layout::of(model);
        let banks = layout.banks;
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
                if g.renew || g.kind == GroupKind::Uniform {
                    Vec::new()
                } else {
                    (0..g.loans.len() as u32).collect()
                }
            })
            .collect();
        Self {
            layout,
            z: vec![0.0; 1 + model.factors.sector_factors],
            selector: Selector::new(&model.groups),
            active,
            active_count: vec![0; model.groups.len()],
            picked: Vec::new(),
            defaults: vec![0; model.groups.len()],
            args: vec![0.0; model.groups.len()],
            spots: vec![None; model.groups.len()],
            swaps: Vec::new(),
            seeds: vec![[0; 32]; h],
            cells: Cells::new(h, &model.pairs, banks, layout.segments),
            totals_at_booking: model.scenario.insurer.is_none() && cells_booked_once(model),
            parties: other_parties(model),
            per_bank: banks > 1 || bank_rules(model),
            bank_rules: bank_rules(model),
            maturing: model.groups.iter().any(|g| !g.renew),
            bank_years: vec![BankYear::default(); h * banks],
            bank_active: vec![0.0; h * banks],
            bank_factor: vec![1.0; h * banks],
            nonrenew_active: vec![0.0; banks],
            nonrenew_start,
            renew_volume,
            segment_year: vec![[0.0; slot::SEGMENT_COUNT]; h * layout.segments],
            years: vec![YearTotals::default(); h],
            insurer_paid: vec![0.0; h],
            guarantor_paid: vec![0.0; h],
            approved_due: vec![0.0; l],
            suspended_due: vec![0.0; l],
            recovery_base_due: vec![0.0; l],
            paid_fraction: vec![1.0; l],
            betas: model.beta_laws.clone(),
            chi2: model.chi2,
            mixture: Mixture::default(),
            shift: vec![0.0; h],
            eta: vec![0.0; h],
            out: PathOutcome::new(layout),
        }
    }

    /// Samples the global factor's yearly innovations from `mixture`
    /// instead of `N(0, I)` (importance sampling; see [`super::importance`]);
    /// the path's likelihood ratio is then [`Workspace::weight`]. Years whose
    /// global factor a stress pins are not shifted.
    pub fn set_mixture(&mut self, mixture: &Mixture) {
        debug_assert!(
            mixture
                .components
                .iter()
                .all(|c| c.shift.len() == self.shift.len())
        );
        self.mixture = mixture.clone();
        self.shift.fill(0.0);
    }

    /// The likelihood ratio of the last path: the density of its global
    /// innovations under the model over their density under the mixture
    /// (1 for plain sampling).
    pub fn weight(&self) -> f64 {
        self.mixture.weight(&self.eta)
    }

    /// Simulates the next path of a batch, leaving its figures in
    /// `self.out`. `stream` is the batch's ChaCha8 stream; `model` must be
    /// the one the workspace was made for (scratch that only some rules
    /// write is cleared only when the model has them).
    ///
    /// The path reads one 256-bit seed per year from `stream`, always the
    /// same number of words, and draws each year from its own Xoshiro256++
    /// generator with that seed. Whatever a year consumes, every other year
    /// and path starts from a fixed seed: runs that differ only in what
    /// happens after a point (a stress in a later year, another pool size)
    /// share their random numbers up to it (common random numbers), and the
    /// bulk of the draws comes from a generator several times faster than
    /// ChaCha8.
    pub fn simulate(&mut self, model: &Model, stream: &mut ChaCha8Rng) {
        self.reset(model);
        if !self.mixture.components.is_empty() {
            // The path's component: from the batch's stream, read only under
            // importance sampling (plain paths read the same words as ever).
            let k = self.mixture.pick(stream.next_u64());
            self.shift
                .copy_from_slice(&self.mixture.components[k].shift);
        }
        // All the years' seeds in one call: the same words as year by year.
        stream.fill_bytes(self.seeds.as_flattened_mut());
        for t in 0..model.horizon {
            let mut rng = PathRng::from_seed(self.seeds[t]);
            self.draw_year(model, t, &mut rng);
        }
        self.settle_years(model);
        self.apply_bank_rules(model);
        self.run_ledger(model);
        self.summarise(model);
    }

    fn reset(&mut self, model: &Model) {
        // Every path starts from the same order of non-renewed loans, so a
        // path's draws do not depend on the paths before it.
        while let Some((g, a, b)) = self.swaps.pop() {
            self.active[g as usize].swap(a as usize, b as usize);
        }
        self.cells.clear();
        self.bank_years.fill(BankYear::default());
        self.years.fill(YearTotals::default());
        // What only some rules write is cleared only under them: without
        // them it keeps its initial value (`guarantor_paid` is overwritten
        // every path; so are the outcome's yearly flags).
        let comp = &model.scenario.compensation;
        if self.bank_rules {
            self.bank_factor.fill(1.0);
            self.approved_due.fill(0.0);
            self.suspended_due.fill(0.0);
            self.out.bank_suspended.fill(false);
        }
        if model.scenario.insurer.is_some() {
            self.insurer_paid.fill(0.0);
        }
        if comp.returns_recoveries() {
            self.recovery_base_due.fill(0.0);
        }
        // Only loans that are not renewed leave their groups.
        if self.maturing {
            self.nonrenew_active.copy_from_slice(&self.nonrenew_start);
        }
        for (count, g) in self.active_count.iter_mut().zip(&model.groups) {
            *count = g.loans.len();
        }
        self.out.values.fill(0.0);
    }

    /// Draws year `t`'s factors; returns `sqrt(W)` (1 for the Gaussian copula).
    fn draw_factors(&mut self, model: &Model, t: usize, rng: &mut PathRng) -> f64 {
        let f = &model.factors;
        let phi = f.persistence;
        let keep = (1.0 - phi * phi).sqrt();
        for (k, z) in self.z.iter_mut().enumerate() {
            let mut eta: f64 = StandardNormal.sample(rng);
            if k == 0 {
                if f.pins[t].is_none() {
                    eta += self.shift[t];
                }
                self.eta[t] = eta;
            }
            *z = if t == 0 { eta } else { phi * *z + keep * eta };
        }
        if let Some(pin) = f.pins[t] {
            self.z[0] = pin;
        }
        match &self.chi2 {
            Some((nu, chi2)) => {
                let v: f64 = chi2.sample(rng);
                (nu / v).sqrt()
            }
            None => 1.0,
        }
    }

    #[inline(always)]
    fn draw_year(&mut self, model: &Model, t: usize, rng: &mut PathRng) {
        let banks = self.layout.banks;
        let basis = model.scenario.compensation.basis;
        // Maturities of non-renewed loans at the start of the year.
        if self.maturing {
            for (gi, g) in model.groups.iter().enumerate() {
                if !g.renew && t as u64 == u64::from(g.term) {
                    self.retire_group(model, gi);
                }
            }
        }
        if self.bank_rules || model.scenario.insurer.is_some() {
            for b in 0..banks {
                self.bank_active[t * banks + b] = self.renew_volume[b] + self.nonrenew_active[b];
            }
        }
        let sqrt_w = self.draw_factors(model, t, rng);
        // Every group's number of defaults first: the draws do not depend
        // on each other, so their tables are asked for all at once and the
        // processor overlaps the look-ups.
        for ((g, x), at) in model.groups.iter().zip(&mut self.args).zip(&mut self.spots) {
            *x = g.argument(self.z[0], &self.z[1..], sqrt_w);
            *at = g.sampler.as_ref().and_then(|s| s.locate(*x));
        }
        for (g, at) in model.groups.iter().zip(&self.spots) {
            if let (Some(s), Some(at)) = (&g.sampler, *at) {
                s.prefetch_quick(at);
            }
        }
        let draws = (self.args.iter().zip(&self.spots))
            .zip(self.defaults.iter_mut().zip(&self.active_count));
        for (g, ((&x, &at), (defaults, &active))) in model.groups.iter().zip(draws) {
            let n = if g.renew { g.loans.len() } else { active };
            *defaults = if !g.active_in(t) || n == 0 {
                0
            } else {
                match &g.sampler {
                    Some(s) => s.sample_at(x, at, rng),
                    None => exact_binomial(n as u32, norm_cdf(x), rng),
                }
            };
        }
        // Then which loans default, and what they cost.
        for (gi, g) in model.groups.iter().enumerate() {
            let k = self.defaults[gi] as usize;
            if k == 0 {
                continue;
            }
            let n = if g.renew {
                g.loans.len()
            } else {
                self.active_count[gi]
            };
            match g.kind {
                GroupKind::Uniform => {
                    let terms = model.terms[g.loans[0] as usize];
                    let cell = match terms.lgd {
                        LgdKind::Fixed(_) => {
                            let c = cell_of(&g.figures[0], basis);
                            let kf = k as f64;
                            Cell {
                                loss: c.loss * kf,
                                basis: c.basis * kf,
                                claim: c.claim * kf,
                                recovery: c.recovery * kf,
                                exposure: c.exposure * kf,
                            }
                        }
                        LgdKind::Beta(bi) => {
                            let mut sum = Cell::default();
                            for _ in 0..k {
                                let lgd = self.betas[bi].sample(rng);
                                let c = cell_with_lgd(
                                    basis,
                                    terms.exposure,
                                    lgd,
                                    terms.share,
                                    terms.cap,
                                );
                                add(&mut sum, &c);
                            }
                            sum
                        }
                    };
                    if !g.renew {
                        self.active_count[gi] -= k;
                        self.nonrenew_active[terms.bank as usize] -= cell.exposure;
                    }
                    self.book(t, terms.pair, &cell);
                }
                GroupKind::Linear {
                    pair,
                    bank,
                    lgd,
                    rate,
                    cap: _,
                    capped,
                } => {
                    // Defaulted exposure, and (when some loan is capped) the
                    // claims loan by loan, precomputed as `(rate e).min(cap)`.
                    // Raw pointers, copied into the closures: a reference
                    // would be reloaded after every stamp the selection
                    // writes (a byte store may alias it).
                    let amounts = g.amounts.as_ptr();
                    let mut exposure = 0.0;
                    let mut claim = 0.0;
                    if capped {
                        let take = &mut |pos: u32| {
                            // SAFETY: selections give positions below the
                            // group's size, the length of `amounts`.
                            let [e, c] = unsafe { *amounts.add(pos as usize) };
                            exposure += e;
                            claim += c;
                        };
                        let ahead = |pos: u32| prefetch(amounts.wrapping_add(pos as usize));
                        self.select(gi, g.renew, n, k, rng, take, ahead);
                    } else {
                        let exposures = g.exposures.as_ptr();
                        let take = &mut |pos: u32| {
                            // SAFETY: as above, for `exposures`.
                            exposure += unsafe { *exposures.add(pos as usize) };
                        };
                        let ahead = |pos: u32| prefetch(exposures.wrapping_add(pos as usize));
                        self.select(gi, g.renew, n, k, rng, take, ahead);
                    }
                    if !g.renew {
                        self.nonrenew_active[bank as usize] -= exposure;
                    }
                    if !capped {
                        claim = rate * exposure;
                    }
                    let total = Figures {
                        loss: lgd * exposure,
                        claim,
                        recovery: claim * (1.0 - lgd),
                        exposure,
                    };
                    self.book(t, pair, &cell_of(&total, basis));
                }
                GroupKind::Simple { pair, bank } => {
                    let mut total = Figures::default();
                    let figures = &g.figures;
                    let mut take = |pos: u32| {
                        let f = &figures[pos as usize];
                        total.loss += f.loss;
                        total.claim += f.claim;
                        total.recovery += f.recovery;
                        total.exposure += f.exposure;
                    };
                    let ahead = |pos: u32| prefetch(figures.as_ptr().wrapping_add(pos as usize));
                    self.select(gi, g.renew, n, k, rng, &mut take, ahead);
                    if !g.renew {
                        self.nonrenew_active[bank as usize] -= total.exposure;
                    }
                    self.book(t, pair, &cell_of(&total, basis));
                }
                GroupKind::General => {
                    // Positions first, then each loan's own draws (Beta LGDs).
                    let mut picked = std::mem::take(&mut self.picked);
                    picked.clear();
                    self.select(gi, g.renew, n, k, rng, &mut |p| picked.push(p), |_| {});
                    for &pos in &picked {
                        let terms = model.terms[g.loans[pos as usize] as usize];
                        let cell = match terms.lgd {
                            LgdKind::Fixed(_) => cell_of(&g.figures[pos as usize], basis),
                            LgdKind::Beta(bi) => {
                                let lgd = self.betas[bi].sample(rng);
                                cell_with_lgd(basis, terms.exposure, lgd, terms.share, terms.cap)
                            }
                        };
                        if !g.renew {
                            self.nonrenew_active[terms.bank as usize] -= terms.exposure;
                        }
                        self.book(t, terms.pair, &cell);
                    }
                    self.picked = picked;
                }
            }
        }
    }

    /// Picks the `k` defaulted loans among the `n` active ones of group
    /// `gi`, calling `take` with each position: renewed groups by Floyd's
    /// selection, asking ahead for figures with `ahead` (see [`floyd`]), the
    /// others by a partial shuffle that retires them.
    // `n` is what the caller already holds: reading it here again instead
    // changed the compiler's choices in the selection loops (+174
    // instructions a plan-2017 path, +4.9% on the 100k portfolio).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn select(
        &mut self,
        gi: usize,
        renew: bool,
        n: usize,
        k: usize,
        rng: &mut PathRng,
        take: &mut impl FnMut(u32),
        ahead: impl Fn(u32),
    ) {
        if renew {
            self.selector.pick(gi, k as u32, rng, take, ahead);
        } else {
            partial_shuffle(&mut self.active[gi], gi, n, k, rng, &mut self.swaps, take);
            self.active_count[gi] -= k;
        }
    }

    /// Removes the still-active loans of a matured group.
    fn retire_group(&mut self, model: &Model, gi: usize) {
        let g = &model.groups[gi];
        let m = self.active_count[gi];
        if g.kind == GroupKind::Uniform {
            let terms = model.terms[g.loans[0] as usize];
            self.nonrenew_active[terms.bank as usize] -= terms.exposure * m as f64;
        } else {
            for &pos in &self.active[gi][..m] {
                let terms = model.terms[g.loans[pos as usize] as usize];
                self.nonrenew_active[terms.bank as usize] -= terms.exposure;
            }
        }
        self.active_count[gi] = 0;
    }

    /// Per default year: the insurer's and guarantor's parts (the insurer's
    /// unpaid part joins the claims when the pool covers it), then the
    /// year's and each bank's totals.
    fn settle_years(&mut self, model: &Model) {
        let banks = self.layout.banks;
        // Without an insurer the cells are final: one pass sums them all
        // (or booking did).
        let insured = model.scenario.insurer.is_some();
        if !self.totals_at_booking {
            for n in 0..self.cells.count {
                let k = self.cells.touched[n];
                let (t, tb, _) = k.coordinates();
                let c = self.cells.cells[k.i as usize];
                self.add_cell_totals(t, tb, &c, !insured);
            }
        }
        if let Some(g) = model.scenario.guarantor {
            for t in 0..model.horizon {
                self.guarantor_paid[t] = g * self.years[t].basis;
            }
        }
        if let Some(ins) = &model.scenario.insurer {
            let mut excess_rate = vec![0.0; model.horizon];
            for (t, rate) in excess_rate.iter_mut().enumerate() {
                let due = ins.share * self.years[t].basis;
                if due <= 0.0 {
                    continue;
                }
                let active: f64 = self.bank_active[t * banks..(t + 1) * banks].iter().sum();
                let budget = ins.premium_rate * active * (1.0 - ins.cost_ratio);
                let paid_fraction = (budget / due).min(1.0);
                self.insurer_paid[t] = paid_fraction * due;
                if ins.pool_covers_excess {
                    *rate = (1.0 - paid_fraction) * ins.share;
                }
            }
            for k in &self.cells.touched[..self.cells.count] {
                let r = excess_rate[k.t as usize];
                if r > 0.0 {
                    let c = &mut self.cells.cells[k.i as usize];
                    c.claim += r * c.basis;
                    // Recoveries return only on the outstanding-principal
                    // basis, where basis x LGD is the loss.
                    c.recovery += r * (c.basis - c.loss);
                }
            }
            for n in 0..self.cells.count {
                let k = self.cells.touched[n];
                let (t, tb, _) = k.coordinates();
                let c = self.cells.cells[k.i as usize];
                self.add_year_totals(t, tb, &c);
            }
        }
        if !self.per_bank {
            for (bank, year) in self.bank_years.iter_mut().zip(&self.years) {
                bank.loss = year.loss;
                bank.claims = year.claims;
            }
        }
    }

    /// Books `c` into the cell of year `t` and pair `pair`, and adds it to
    /// the year's totals when that is done as cells are booked.
    #[inline(always)]
    fn book(&mut self, t: usize, pair: u32, c: &Cell) {
        if let Some(k) = self.cells.book(t, pair, c)
            && self.totals_at_booking
        {
            self.add_cell_totals(t, k.tb as usize, c, true);
        }
    }

    /// Adds cell `c` (year `t`, year and bank `tb`) into its year's loss
    /// basis (when the other parties need it) and, when `totals`, into the
    /// year's and bank's totals.
    #[inline(always)]
    fn add_cell_totals(&mut self, t: usize, tb: usize, c: &Cell, totals: bool) {
        if self.parties {
            self.years[t].basis += c.basis;
        }
        if totals {
            self.add_year_totals(t, tb, c);
        }
    }

    /// Adds cell `c` (year `t`, year and bank `tb`) into the year's totals
    /// and, when banks' totals are summed (`per_bank`), the bank's.
    #[inline(always)]
    fn add_year_totals(&mut self, t: usize, tb: usize, c: &Cell) {
        let year = &mut self.years[t];
        year.loss += c.loss;
        year.claims += c.claim;
        if !self.per_bank {
            return;
        }
        let bank = &mut self.bank_years[tb];
        bank.loss += c.loss;
        bank.claims += c.claim;
        bank.defaulted += c.exposure;
    }

    /// Suspension and bank caps, judged on each default year; approved
    /// claims become due `claim_lag_years` later.
    fn apply_bank_rules(&mut self, model: &Model) {
        let banks = self.layout.banks;
        let comp = &model.scenario.compensation;
        let lag = model.scenario.pool.claim_lag_years as usize;
        let rules = self.bank_rules;
        for t in 0..model.horizon {
            if !rules {
                self.approved_due[t + lag] = self.years[t].claims;
                continue;
            }
            for b in 0..banks {
                let i = t * banks + b;
                let claims = self.bank_years[i].claims;
                let active = self.bank_active[i];
                let suspended = comp.suspend_above_npl_ratio.is_some_and(|limit| {
                    active > 0.0 && exceeds(self.bank_years[i].defaulted, limit * active)
                });
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
                    self.out.values[self.layout.bank(b, slot::bank::SUSPENDED)] += claims;
                }
                self.approved_due[t + lag] += approved;
            }
        }
        if comp.returns_recoveries() {
            for k in self.cells.touched() {
                let (t, tb, _) = k.coordinates();
                let i = k.i;
                let f = self.bank_factor[tb];
                self.recovery_base_due[t + lag] += f * self.cells.cells[i as usize].recovery;
            }
        }
    }

    fn run_ledger(&mut self, model: &Model) {
        let pool = &model.scenario.pool;
        let rec_lag = model.scenario.compensation.recovery_lag_years as usize;
        let returns = model.scenario.compensation.returns_recoveries();
        let mut ledger = Ledger::new(pool);
        let Rows { totals, years, .. } = self.layout.rows(&mut self.out.values);
        for (u, row) in years.iter_mut().enumerate() {
            let recoveries = if returns && u >= rec_lag {
                self.paid_fraction[u - rec_lag] * self.recovery_base_due[u - rec_lag]
            } else {
                0.0
            };
            let y = ledger.year(u, self.approved_due[u], recoveries);
            self.paid_fraction[u] = y.fraction;
            row[slot::APPROVED] = y.approved;
            row[slot::SUSPENDED] = self.suspended_due[u];
            row[slot::PAID] = y.paid;
            row[slot::SHORTFALL] = y.shortfall;
            row[slot::RECOVERIES] = recoveries;
            row[slot::BALANCE] = y.balance;
            self.out.depleted[u] = y.depleted;
            self.out.budget_exceeded[u] = y.budget_exceeded;
            for s in [
                slot::APPROVED,
                slot::SUSPENDED,
                slot::PAID,
                slot::SHORTFALL,
                slot::RECOVERIES,
            ] {
                totals[s] += row[s];
            }
            totals[slot::BALANCE] = y.balance;
        }
    }

    fn summarise(&mut self, model: &Model) {
        let banks = self.layout.banks;
        let segments = self.layout.segments;
        let h = model.horizon;
        let lag = model.scenario.pool.claim_lag_years as usize;
        let rows = self.layout.rows(&mut self.out.values);
        let fractions = &self.paid_fraction[lag..lag + h];
        // Every per-bank and per-segment figure is summed year by year and
        // then over the years, as the totals are: with one bank (or one
        // segment) its figures equal the totals bit for bit.
        for (t, (row, &fraction)) in rows.years[..h].iter_mut().zip(fractions).enumerate() {
            let (loss, claims) = (self.years[t].loss, self.years[t].claims);
            row[slot::LOSS] = loss;
            row[slot::CLAIMS] = claims;
            rows.totals[slot::LOSS] += loss;
            rows.totals[slot::CLAIMS] += claims;
            let at = t * banks..(t + 1) * banks;
            for ((bank, year), &factor) in rows
                .banks
                .iter_mut()
                .zip(&self.bank_years[at.clone()])
                .zip(&self.bank_factor[at])
            {
                let approved = year.claims * factor;
                bank[slot::bank::LOSS] += year.loss;
                bank[slot::bank::CLAIMS] += year.claims;
                bank[slot::bank::APPROVED] += approved;
                bank[slot::bank::PAID] += approved * fraction;
            }
        }
        // A touched cell's year, year and segment, and segment figures.
        let segment_figures = |k: &Touched| {
            let (t, tb, ts) = k.coordinates();
            let c = &self.cells.cells[k.i as usize];
            let mut f = [0.0; slot::SEGMENT_COUNT];
            f[slot::segment::LOSS] = c.loss;
            f[slot::segment::CLAIMS] = c.claim;
            // Without bank rules every factor is 1, and a claim times 1 is
            // the claim.
            let approved = if self.bank_rules {
                c.claim * self.bank_factor[tb]
            } else {
                c.claim
            };
            f[slot::segment::PAID] = approved * fractions[t];
            (t, ts, f)
        };
        let add = |row: &mut [f64; slot::SEGMENT_COUNT], f: [f64; slot::SEGMENT_COUNT]| {
            for (r, v) in row.iter_mut().zip(f) {
                *r += v;
            }
        };
        if banks == 1 {
            // One cell per year and segment, booked year by year: adding
            // the cells straight into the rows sums each segment year by
            // year, exactly as staging them in `segment_year` would.
            for k in self.cells.touched() {
                let (t, ts, f) = segment_figures(k);
                add(&mut rows.segments[ts - t * segments], f);
            }
        } else {
            for k in self.cells.touched() {
                let (_, ts, f) = segment_figures(k);
                add(&mut self.segment_year[ts], f);
            }
            if segments > 0 {
                for years in self.segment_year[..h * segments].chunks_exact_mut(segments) {
                    for (row, y) in rows.segments.iter_mut().zip(years) {
                        for (r, v) in row.iter_mut().zip(y.iter_mut()) {
                            *r += *v;
                            *v = 0.0;
                        }
                    }
                }
            }
        }
        // What the other parties bear, net of the recoveries they share pro
        // rata (on the outstanding-principal basis they pay on the whole
        // exposure and get back the recovered part).
        let loss = rows.totals[slot::LOSS];
        let (mut insurer, mut guarantor) = (0.0, 0.0);
        // Without an insurer or a guarantor both parts stay zero.
        if self.parties {
            for t in 0..model.horizon {
                let basis = self.years[t].basis;
                let net = if basis > 0.0 {
                    self.years[t].loss / basis
                } else {
                    1.0
                };
                insurer += self.insurer_paid[t] * net;
                guarantor += self.guarantor_paid[t] * net;
            }
        }
        let pool_net = rows.totals[slot::PAID] - rows.totals[slot::RECOVERIES];
        rows.parties[slot::party::BANK] = loss - pool_net - insurer - guarantor;
        rows.parties[slot::party::INSURER] = insurer;
        rows.parties[slot::party::GUARANTOR] = guarantor;
    }
}

/// Whether every cell is booked at most once a path: no (bank, segment)
/// pair has two groups, and no group books loan by loan.
fn cells_booked_once(model: &Model) -> bool {
    let mut booked = vec![false; model.pairs.len()];
    model.groups.iter().all(|g| {
        let pair = match g.kind {
            GroupKind::Linear { pair, .. } | GroupKind::Simple { pair, .. } => pair,
            GroupKind::Uniform => match g.loans.first() {
                Some(&loan) => model.terms[loan as usize].pair,
                None => return true,
            },
            GroupKind::General => return false,
        };
        !std::mem::replace(&mut booked[pair as usize], true)
    })
}

/// Whether the scenario has an insurer or a guarantor.
#[inline]
fn other_parties(model: &Model) -> bool {
    model.scenario.insurer.is_some() || model.scenario.guarantor.is_some()
}

/// Whether the scenario has per-bank rules (suspension or an annual cap).
#[inline]
fn bank_rules(model: &Model) -> bool {
    let comp = &model.scenario.compensation;
    comp.suspend_above_npl_ratio.is_some() || comp.bank_annual_cap_ratio.is_some()
}

#[inline]
fn add(sum: &mut Cell, c: &Cell) {
    sum.loss += c.loss;
    sum.basis += c.basis;
    sum.claim += c.claim;
    sum.recovery += c.recovery;
    sum.exposure += c.exposure;
}

/// Picks defaulted loans: Floyd's algorithm, `k` distinct positions out of
/// `n`, uniformly, in O(k).
///
/// Picked loans are marked with the draw's epoch in one byte per loan (a
/// hundred thousand loans take 100 KB, which stays in cache); each group
/// counts its own epochs and clears its marks when they wrap, every 255
/// draws.
struct Selector {
    /// One mark per loan, groups at their offsets.
    stamps: Vec<u8>,
    /// Each group's marks: where they start, how many, and its current
    /// epoch. The groups' ranges tile `stamps`.
    groups: Vec<(usize, usize, u8)>,
}

impl Selector {
    fn new(groups: &[crate::model::Group]) -> Self {
        let mut total = 0;
        let groups: Vec<_> = groups
            .iter()
            .map(|g| {
                total += g.loans.len();
                (total - g.loans.len(), g.loans.len(), 0)
            })
            .collect();
        Self {
            stamps: vec![0; total],
            groups,
        }
    }

    /// Picks `k` of the loans of group `group`, calling `take` with each
    /// position.
    #[inline]
    fn pick(
        &mut self,
        group: usize,
        k: u32,
        rng: &mut PathRng,
        take: &mut impl FnMut(u32),
        ahead: impl Fn(u32),
    ) {
        let (start, len, epoch) = &mut self.groups[group];
        let n = *len as u32;
        assert!(k <= n);
        // SAFETY: the groups' ranges tile `stamps` (made together in `new`).
        let stamps = unsafe { self.stamps.get_unchecked_mut(*start..*start + *len) };
        *epoch = epoch.wrapping_add(1);
        if *epoch == 0 {
            stamps.fill(0);
            *epoch = 1;
        }
        let epoch = *epoch;
        floyd(n, k, rng, ahead, |pick, j| {
            // SAFETY: `pick <= j` (a uniform draw below `j + 1`) and
            // `j < n == stamps.len()`: both index inside `stamps`.
            unsafe {
                let pick = if *stamps.get_unchecked(pick as usize) == epoch {
                    j
                } else {
                    pick
                };
                *stamps.get_unchecked_mut(pick as usize) = epoch;
                take(pick);
            }
        });
    }
}

/// Floyd's algorithm over uniform draws: for `j` from `n - k` to `n - 1`,
/// `step(t, j)` with `t` uniform in `0..=j`; the step takes `t`, or `j` when
/// `t` was taken before.
///
/// Each draw uses a lane of a 64-bit number by Lemire's unbiased method (a
/// rejected lane is redrawn): 16-bit lanes for groups of up to 4,096 loans,
/// where a lane is rarely rejected, 32-bit lanes for larger ones.
///
/// In larger groups, whose figures outgrow the processor's nearer caches,
/// `ahead(t)` is called with each draw before its step, to ask for `t`'s
/// figures (a hint): the step reads them only after checking `t`'s mark,
/// and the request lets the two loads overlap.
#[inline]
fn floyd(n: u32, k: u32, rng: &mut PathRng, ahead: impl Fn(u32), mut step: impl FnMut(u32, u32)) {
    /// Draws with `LANES` lanes of `BITS` bits per 64-bit number.
    #[inline(always)]
    fn run<const BITS: u32, const LANES: u32>(
        n: u32,
        k: u32,
        rng: &mut PathRng,
        ahead: &impl Fn(u32),
        step: &mut impl FnMut(u32, u32),
    ) {
        let mask = (1u64 << BITS) - 1;
        // One draw from a lane of `word`, then the step.
        let mut draw = |word: u64, j: u32, rng: &mut PathRng| {
            let bound = u64::from(j + 1);
            let mut m = (word & mask) * bound;
            // `m`'s low lane below the bound, compared in the lane's own
            // width (`bound <= n` fits it): no masking of either side.
            let low_below = if BITS == 16 {
                (m as u16) < (bound as u16)
            } else {
                (m as u32) < (bound as u32)
            };
            if low_below {
                let threshold = ((1u64 << BITS) - bound) % bound;
                while m & mask < threshold {
                    m = (rng.next_u64() & mask) * bound;
                }
            }
            ahead((m >> BITS) as u32);
            step((m >> BITS) as u32, j);
        };
        let mut j = n - k;
        // Whole words first (no end test per lane), then the last, partial
        // one: the same numbers, in the same order, as lane by lane.
        while n - j >= LANES {
            let word = rng.next_u64();
            for lane in 0..LANES {
                draw(word >> (BITS * lane), j + lane, rng);
            }
            j += LANES;
        }
        if j < n {
            let mut word = rng.next_u64();
            while j < n {
                draw(word, j, rng);
                word >>= BITS;
                j += 1;
            }
        }
    }
    if n <= 1 << 12 {
        // Small groups' figures stay in cache: nothing to ask for.
        run::<16, 4>(n, k, rng, &|_| {}, &mut step);
    } else {
        run::<32, 2>(n, k, rng, &ahead, &mut step);
    }
}

/// `k` of the first `m` positions, uniformly, moved to the end of the active
/// range (partial Fisher-Yates): they leave the group.
#[inline]
fn partial_shuffle(
    active: &mut [u32],
    group: usize,
    m: usize,
    k: usize,
    rng: &mut PathRng,
    swaps: &mut Vec<(u32, u32, u32)>,
    take: &mut impl FnMut(u32),
) {
    let mut lanes = Lanes16::new();
    for i in 0..k {
        let last = m - 1 - i;
        let pick = lanes.below(rng, last as u32 + 1) as usize;
        active.swap(pick, last);
        swaps.push((group as u32, pick as u32, last as u32));
        take(active[last]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large groups ask for every draw's figures before its step, small
    /// ones never; asking changes no draw and no number taken.
    #[test]
    fn floyd_asks_ahead_in_large_groups_only() {
        for (n, k, asks) in [(500u32, 40u32, false), (10_000, 301, true)] {
            let (mut hinted, mut plain) = (PathRng::seed_from_u64(5), PathRng::seed_from_u64(5));
            let asked = std::cell::RefCell::new(Vec::new());
            let mut steps = Vec::new();
            floyd(
                n,
                k,
                &mut hinted,
                |t| asked.borrow_mut().push(t),
                |t, j| steps.push((t, j, asked.borrow().len())),
            );
            let mut expected = Vec::new();
            floyd(n, k, &mut plain, |_| {}, |t, j| expected.push((t, j)));
            let got: Vec<(u32, u32)> = steps.iter().map(|&(t, j, _)| (t, j)).collect();
            assert_eq!(got, expected, "n = {n}");
            assert_eq!(hinted.next_u64(), plain.next_u64(), "n = {n}");
            let asked = asked.into_inner();
            if asks {
                assert_eq!(asked.len(), k as usize);
                for (i, &(t, _, before)) in steps.iter().enumerate() {
                    assert_eq!(
                        (asked[i], before),
                        (t, i + 1),
                        "draw {i} asked before its step"
                    );
                }
            } else {
                assert!(asked.is_empty(), "n = {n}");
            }
        }
    }
}
