//! Exact, fast random draws for the hot loop.
//!
//! * [`uniform_below`] and [`Lanes16::below`]: a uniform integer below `n`,
//!   by Lemire's unbiased multiply-and-reject method (rand's default range
//!   sampler trades a tiny bias for speed; these have none). `Lanes16` cuts
//!   each 32-bit draw into two 16-bit lanes for ranges up to 65,536.
//! * [`BinomialTable`]: the number of defaults of a group of `n` like loans
//!   whose default probability, given the factors, is `Phi(x)`.
//!
//! The table method: the line of `x` is cut into slices of width `1/64`.
//! For the slice holding `x`, `p_max = Phi(top of slice)` bounds `Phi(x)`,
//! and `K' ~ Binomial(n, p_max)` is drawn from the slice's alias table (one
//! 64-bit number, no search). Each of the `K'` candidates is then kept with
//! probability `r = Phi(x) / p_max`: thinning a Binomial this way gives
//! exactly `Binomial(n, Phi(x))`. Rather than a random test per candidate,
//! the number dropped, `D ~ Binomial(K', 1 - r)`, is drawn by inverting its
//! CDF at one uniform (for PDs of a few percent `D` is 0, 1 or 2 nine times
//! in ten, so the inversion takes a step or two). `r` comes from a linear
//! interpolation between its exact values at the ends of the slice's
//! eighths, with an error bound checked against `Phi` when the slice is
//! built; the CDF moves by at most `K'` per unit of `r`, so the uniform
//! settles almost every step at once, and `Phi(x)` itself is computed only
//! when the uniform falls within that margin of the CDF. Before any of
//! that, one comparison settles most draws: for counts around the slice's
//! mode, each eighth of the slice keeps a lower bound on the chance that
//! thinning drops nothing (`r` is at least its value at the eighth's
//! bottom), and a uniform below it keeps every candidate, as the inversion
//! would.
//! Tables are built on first use and shared by all threads. Outside the
//! tabled range, for small groups, or when a slice's table would be long,
//! the draw falls back to rand_distr's exact Binomial with `p = Phi(x)`.
//! All arithmetic is to double precision: the distribution is the one
//! drawing every loan would give.

use std::sync::OnceLock;

use rand::Rng;
use rand::rngs::Xoshiro256PlusPlus;

/// The generator of a path's draws within one year (seeded per path and
/// year from the batch's ChaCha8 stream; see `engine::path`).
pub type PathRng = Xoshiro256PlusPlus;
use rand_distr::{Binomial, Distribution};

use crate::math::norm_cdf;

/// A uniform integer in `0..n` (`n > 0`), without bias (64-bit Lemire).
#[inline]
pub fn uniform_below(rng: &mut PathRng, n: u32) -> u32 {
    let n = u64::from(n);
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    let mut low = m as u64;
    if low < n {
        let threshold = n.wrapping_neg() % n;
        while low < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
            low = m as u64;
        }
    }
    (m >> 64) as u32
}

/// A uniform double in `[0, 1)` with 53 random bits.
#[inline]
pub fn unit(rng: &mut PathRng) -> f64 {
    unit_of(rng.next_u64())
}

/// The uniform double in `[0, 1)` that [`unit`] makes of the 64-bit number
/// `bits` (its top 53 bits).
#[inline]
fn unit_of(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Hands out 16-bit random lanes, four per 64-bit draw.
#[derive(Debug, Default)]
pub struct Lanes16 {
    word: u64,
    left: u32,
}

impl Lanes16 {
    /// Fresh lanes (the next draw reads a new word).
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn next(&mut self, rng: &mut PathRng) -> u32 {
        if self.left == 0 {
            self.word = rng.next_u64();
            self.left = 4;
        }
        let lane = (self.word & 0xffff) as u32;
        self.word >>= 16;
        self.left -= 1;
        lane
    }

    /// A uniform integer in `0..n` (`n > 0`), without bias: 16-bit Lemire
    /// for `n <= 65,536`, else 64-bit.
    #[inline]
    pub fn below(&mut self, rng: &mut PathRng, n: u32) -> u32 {
        if n > 1 << 16 {
            return uniform_below(rng, n);
        }
        let mut m = self.next(rng) * n;
        let mut low = m & 0xffff;
        if low < n {
            let threshold = ((1u32 << 16) - n) % n;
            while low < threshold {
                m = self.next(rng) * n;
                low = m & 0xffff;
            }
        }
        m >> 16
    }
}

/// Slices per unit of `x`.
const SLICES_PER_UNIT: f64 = 64.0;
/// Lowest and highest `x` with tables; beyond, the exact fallback.
const X_MIN: f64 = -9.0;
const X_MAX: f64 = 9.0;
/// Longest table a slice may have before it uses the fallback.
const MAX_TABLE: usize = 640;
/// Smallest group that gets tables (smaller ones draw exactly each time).
const MIN_TABLED: u32 = 32;
/// Parts of a slice between which the thinning ratio is interpolated.
const SUB_SLICES: usize = 8;
/// Largest expected number of dropped candidates thinning settles by
/// inversion; beyond, an exact Binomial draw of the drops.
const MAX_INVERTED_DROPS: f64 = 40.0;
/// Candidate counts around a slice's mode with a quick test for "none
/// dropped" (see [`Slice::keep_all`]).
const QUICK: usize = 16;

/// The CDF table of `Binomial(n, p_max)` for one slice, and the thinning
/// ratio at the ends of its eighths.
///
/// In declaration order (`repr(C)`): what every draw reads first, up to
/// [`Slice::HOT`] bytes, which [`BinomialTable::locate`] asks for ahead;
/// then what only thinning by inversion reads.
#[derive(Debug)]
#[repr(C)]
struct Slice {
    /// Walker's alias table of `K' - k_min`: entry `i` holds, in its top
    /// 54 bits, the chance (in units of 2^-64) that cell `i` keeps `i`, and
    /// in its low 10 bits the alias the cell gives otherwise.
    alias: Box<[u64]>,
    /// Smallest `k` in the table (the mass below it is under 1e-16).
    k_min: u32,
    /// The first candidate count of the quick tests.
    quick_base: u32,
    /// The quick tests for each eighth of the slice and `QUICK` candidate
    /// counts from `quick_base` (see [`QuickRow`]), in a block of their own
    /// beside the alias table.
    quick: Box<QuickRows>,
    /// `r = Phi(x) / p_max` at the bottom of each eighth of the slice, and 1
    /// at its top.
    ratios: [f64; SUB_SLICES + 1],
    /// Bound on the error of `r` interpolated linearly between them.
    spread: f64,
    /// Upper bound of `Phi(x)` on the slice.
    p_max: f64,
}

/// The quick tests of one eighth of a slice, for `QUICK` candidate counts
/// `c` from the slice's `quick_base`, in units of 2^-16 of the draw's
/// uniform `u`, compared with its top 16 bits `h` (`h < b` exactly when
/// `u < b / 2^16`, and `h >= b` when `u >= b / 2^16`):
///
/// * `h < keep[c]`: thinning drops none of the `c` candidates. The bound is
///   below the chance `r^c` of that, `r` being at least its value at the
///   bottom of the eighth.
/// * `one[c][0] <= h < one[c][1]`: thinning drops exactly one. `u` is then
///   above the chance of dropping none (at most `r^c` at the top of the
///   eighth) and below the chance of dropping at most one, `r^c + c r^(c-1)
///   (1 - r)`, which grows with `r` (at least its value at the bottom).
///
/// Each bound is moved outwards by far more than the rounding in computing
/// it and in [`Slice::drops`], and then rounded outwards to 2^-16, so that
/// whenever a test settles a draw, the inversion would have settled it the
/// same way. Where a test does not apply, `keep` is 0 and `one` is empty.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(128))]
struct QuickRow {
    keep: [u16; QUICK],
    one: [[u16; 2]; QUICK],
}

/// A slice's quick tests, one row per eighth (two cache lines; a draw reads
/// its count's bounds in both).
#[derive(Debug)]
struct QuickRows([QuickRow; SUB_SLICES]);

/// Draws the number of defaults of a group of `n` loans (see the module
/// documentation). Build once per group; share between threads.
#[derive(Debug)]
pub struct BinomialTable {
    n: u32,
    /// Number of slices, as a float (compared with positions).
    len: f64,
    slices: Box<[OnceLock<Option<Slice>>]>,
}

impl BinomialTable {
    /// A sampler for groups of `n` loans.
    pub fn new(n: u32) -> Self {
        let count = if n >= MIN_TABLED {
            ((X_MAX - X_MIN) * SLICES_PER_UNIT) as usize
        } else {
            0
        };
        Self {
            n,
            len: count as f64,
            slices: (0..count).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Number of trials.
    pub fn trials(&self) -> u32 {
        self.n
    }

    /// Where `x` falls in the tables: its eighth of a slice counted from
    /// the first slice, or `None` outside the tabled range. Also asks for
    /// that slice's table (a hint that changes no result): a path's groups
    /// look up their tables at random places, so locating them all before
    /// the first draw overlaps the cache misses.
    #[inline]
    pub fn locate(&self, x: f64) -> Option<u32> {
        let pos = (x - X_MIN) * SLICES_PER_UNIT;
        if pos >= 0.0 && pos < self.len {
            // SAFETY: `0 <= pos < len <= 1,152`, so `8 pos` is finite and
            // in range of u32, whose floor the conversion takes.
            let eighths: u32 = unsafe { (pos * SUB_SLICES as f64).to_int_unchecked() };
            let i = eighths as usize / SUB_SLICES;
            if let Some(slice) = self.slices.get(i) {
                // Every line of the slice's entry up to the end of what a
                // draw reads first (the entry's own state may come before
                // the slice: the whole entry's excess counts as a prefix).
                const HOT_END: usize =
                    size_of::<OnceLock<Option<Slice>>>() - size_of::<Slice>() + Slice::HOT;
                let at = std::ptr::from_ref(slice).cast::<u8>();
                let mut offset = 0;
                while offset < HOT_END {
                    crate::math::prefetch(at.wrapping_add(offset));
                    offset += 64;
                }
                crate::math::prefetch(at.wrapping_add(HOT_END - 1));
                return Some(eighths);
            }
        }
        None
    }

    /// Asks for the quick-test row that a draw at a located `x` reads (a
    /// hint that changes no result). The row is known before the draw's
    /// random numbers are, but only through the slice's header, which
    /// [`BinomialTable::locate`] asked for: called for every group after
    /// all are located, it lets the rows' cache misses overlap each other
    /// and the first draws instead of coming one draw at a time. Nothing
    /// when the slice is not built yet.
    #[inline]
    pub fn prefetch_quick(&self, eighths: u32) {
        let i = eighths as usize / SUB_SLICES;
        if let Some(cell) = self.slices.get(i)
            && let Some(Some(s)) = cell.get()
            && let Some(row) = s.quick.0.get(eighths as usize % SUB_SLICES)
        {
            // A row is two cache lines (`QuickRow` is aligned to 128).
            let at = std::ptr::from_ref(row).cast::<u8>();
            crate::math::prefetch(at);
            crate::math::prefetch(at.wrapping_add(64));
        }
    }

    /// Draws `K ~ Binomial(n, Phi(x))` exactly.
    #[inline]
    pub fn sample(&self, x: f64, rng: &mut PathRng) -> u32 {
        self.sample_at(x, self.locate(x), rng)
    }

    /// [`BinomialTable::sample`] for an `x` already located: from the
    /// slice's table, `K' ~ Binomial(n, p_max)` by one 64-bit number, then
    /// how many of the candidates thinning drops by one uniform (and more
    /// numbers only in the rare draws that need them).
    #[inline]
    pub fn sample_at(&self, x: f64, at: Option<u32>, rng: &mut PathRng) -> u32 {
        if let Some(eighths) = at {
            let i = eighths as usize / SUB_SLICES;
            if let Some(cell) = self.slices.get(i)
                && let Some(s) = cell.get_or_init(|| Slice::build(self.n, i))
            {
                let candidates = s.draw(rng.next_u64());
                let bits = rng.next_u64();
                if candidates == 0 {
                    return 0;
                }
                // Most draws keep every candidate or drop one, and most of
                // those are settled by a comparison or two, before any
                // interpolation.
                let q = candidates.wrapping_sub(s.quick_base) as usize;
                let j = eighths as usize % SUB_SLICES;
                if q < QUICK {
                    let h = (bits >> 48) as u16;
                    let row = &s.quick.0[j];
                    // Both tests at once and one branch on either: which
                    // test settles a draw is random, and a branch on each
                    // would often be mispredicted (late, after the table's
                    // load). The windows do not overlap (`keep <= low`), and
                    // a draw in the first keeps every candidate.
                    let keep = h < row.keep[q];
                    let [low, high] = row.one[q];
                    let one = (h >= low) & (h < high);
                    if crate::math::one_branch(keep | one) {
                        return candidates - u32::from(!keep);
                    }
                }
                let u = unit_of(bits);
                // Where `x` lies in its eighth, from the same product
                // `locate` truncated (scaling by 8 is exact).
                let frac = (x - X_MIN) * SLICES_PER_UNIT * SUB_SLICES as f64 - f64::from(eighths);
                return candidates - s.drops(candidates, x, j, frac, u, rng);
            }
        }
        exact_binomial(self.n, norm_cdf(x), rng)
    }
}

/// An exact Binomial draw by rand_distr (BINV or BTPE).
pub fn exact_binomial(n: u32, p: f64, rng: &mut PathRng) -> u32 {
    match Binomial::new(u64::from(n), p.clamp(0.0, 1.0)) {
        Ok(b) => b.sample(rng) as u32,
        Err(_) => 0,
    }
}

/// Low bits of an alias entry that hold the alias (tables are at most
/// [`MAX_TABLE`] < 1,024 long).
const ALIAS_MASK: u64 = (1 << 10) - 1;

/// Walker's alias table (built by Vose's method, in integers) for the
/// distribution proportional to `weights`.
///
/// Each of the `len` cells holds a capacity of 2^64 units; the weights are
/// scaled to integers that sum to exactly `len * 2^64` (the rounding
/// remainder, under one unit per entry, goes to the largest), so the
/// construction itself is exact. A cell keeps its own value for a low part
/// below its threshold and gives its alias otherwise; the threshold is
/// rounded down to a multiple of 1,024 units to make room for the alias.
/// Every probability is thus represented to within `len * 2^-54` of a cell,
/// below 4e-14 in all, the same order as the table's own rounding.
fn alias_table(weights: &[f64]) -> Box<[u64]> {
    const CELL: u128 = 1 << 64;
    let len = weights.len();
    assert!(
        len > 0 && len as u64 <= ALIAS_MASK,
        "alias table of {len} entries"
    );
    let total: f64 = weights.iter().sum();
    let target = CELL * len as u128;
    let scale = (len as f64) * 18_446_744_073_709_551_616.0 / total;
    let mut units: Vec<u128> = weights.iter().map(|&w| (w * scale) as u128).collect();
    let sum: u128 = units.iter().sum();
    let largest = (0..len).max_by_key(|&i| units[i]).unwrap_or(0);
    if sum <= target {
        units[largest] += target - sum;
    } else {
        units[largest] -= (sum - target).min(units[largest]);
    }
    let mut threshold = vec![u64::MAX; len];
    let mut alias: Vec<u64> = (0..len as u64).collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..len).partition(|&i| units[i] < CELL);
    while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
        small.pop();
        threshold[s] = units[s] as u64;
        alias[s] = l as u64;
        units[l] -= CELL - units[s];
        if units[l] < CELL {
            large.pop();
            small.push(l);
        }
    }
    // What remains is full cells (up to the rounding of the last steps).
    threshold
        .iter()
        .zip(&alias)
        .map(|(&t, &a)| (t & !ALIAS_MASK) | a)
        .collect()
}

impl Slice {
    /// Bytes from the start of a slice that every draw reads: the alias
    /// table's pointer and length, `k_min`, and the quick test's base and
    /// the pointer to its rows.
    const HOT: usize = std::mem::offset_of!(Slice, ratios);

    /// The table of slice `i`, or `None` when it would be too long or its
    /// polynomial cannot be certified.
    ///
    /// Probabilities are built relative to the mode by the ratio recursion
    /// and normalised by their sum; terms below 1e-18 of the mode's are left
    /// out on both sides (their total is below double precision).
    fn build(n: u32, i: usize) -> Option<Slice> {
        let bottom = X_MIN + i as f64 / SLICES_PER_UNIT;
        let top = X_MIN + (i + 1) as f64 / SLICES_PER_UNIT;
        let p = norm_cdf(top);
        if !(p > 0.0 && p < 1.0) {
            return None;
        }
        let nf = f64::from(n);
        let odds = p / (1.0 - p);
        let mode = ((nf + 1.0) * p).floor().min(nf);
        let mut below = Vec::new();
        let (mut k, mut v) = (mode, 1.0f64);
        while k > 0.0 {
            let next = v * k / (nf - k + 1.0) / odds;
            if next < 1e-18 {
                break;
            }
            below.push(next);
            v = next;
            k -= 1.0;
            if below.len() > MAX_TABLE {
                return None;
            }
        }
        let k_min = k as u32;
        let mut rel: Vec<f64> = below.into_iter().rev().collect();
        rel.push(1.0);
        let (mut k, mut v) = (mode, 1.0f64);
        while k < nf {
            let next = v * (nf - k) / (k + 1.0) * odds;
            if next < 1e-18 {
                break;
            }
            rel.push(next);
            v = next;
            k += 1.0;
            if rel.len() > MAX_TABLE {
                return None;
            }
        }
        let alias = alias_table(&rel);

        // The thinning ratio at the ends of the eighths, and a bound on the
        // error of interpolating it linearly, from a dense grid in every
        // eighth (doubled, plus a margin for rounding in `x` itself).
        let eighth = (top - bottom) / SUB_SLICES as f64;
        let mut ratios = [1.0; SUB_SLICES + 1];
        for (j, r) in ratios.iter_mut().enumerate().take(SUB_SLICES) {
            *r = (norm_cdf(bottom + j as f64 * eighth) / p).min(1.0);
        }
        let mut worst: f64 = 0.0;
        for j in 0..SUB_SLICES {
            for m in 1..64 {
                let f = f64::from(m) / 64.0;
                let exact = (norm_cdf(bottom + (j as f64 + f) * eighth) / p).min(1.0);
                let line = interpolate(&ratios, j, f);
                worst = worst.max((line - exact).abs());
            }
        }
        let spread = 2.0 * worst + 1e-13;
        // The quick tests, for counts around the mode where thinning by
        // inversion applies for every `x` of the eighth (see `drops`):
        // there the CDF's first step is `r^c`, at least `ratios[j]^c` and
        // at most `ratios[j + 1]^c` in eighth `j` since `r` grows with `x`,
        // and its second `r^c + c r^(c-1) (1 - r)`, which also grows with
        // `r`. Each bound is moved outwards by far more than the rounding in
        // computing it, in the ratios and in `drops`' own CDF, and then
        // rounded outwards to 2^-16, so that whenever a test settles a draw
        // `drops` would have found the same; other draws go through `drops`
        // as before.
        let quick_base = (mode as u32).saturating_sub(QUICK as u32 / 2).max(k_min);
        let empty = QuickRow {
            keep: [0; QUICK],
            one: [[u16::MAX, 0]; QUICK],
        };
        let mut quick = Box::new(QuickRows([empty; SUB_SLICES]));
        for (j, row) in quick.0.iter_mut().enumerate() {
            let (r, top) = (ratios[j], ratios[j + 1]);
            // `r^(c-1)` and `top^c`, one factor more per count (their
            // rounding, a few parts in 1e15, is far inside the margins).
            let mut r_less = r.powi(quick_base.saturating_sub(1) as i32);
            let mut top_c = top.powi(quick_base.max(1) as i32);
            for q in 0..QUICK {
                let c = quick_base + q as u32;
                if c == 0 {
                    continue;
                }
                let none = r_less * r;
                let cf = f64::from(c);
                if r - spread > 0.0 && cf * (1.0 - r + spread) <= MAX_INVERTED_DROPS {
                    row.keep[q] = units_below(none * (1.0 - 1e-12) - 1e-15);
                    let most_none = top_c * (1.0 + 1e-12) + 1e-15;
                    let at_most_one = none + cf * r_less * (1.0 - r);
                    let (low, high) = (
                        units_above(most_none),
                        units_below(at_most_one * (1.0 - 1e-12) - 1e-15),
                    );
                    if low < high {
                        row.one[q] = [low, high];
                    }
                }
                r_less = none;
                top_c *= top;
            }
        }
        Some(Slice {
            p_max: p,
            k_min,
            quick_base,
            quick,
            alias,
            ratios,
            spread,
        })
    }

    /// `K'` from one 64-bit random number, by the alias method: the top
    /// of `bits * len` picks a cell, the bits below it decide between the
    /// cell's own value and its alias. No loop and no search: a draw costs
    /// the same wherever it lands.
    #[inline]
    fn draw(&self, bits: u64) -> u32 {
        let m = u128::from(bits) * self.alias.len() as u128;
        let (cell, low) = ((m >> 64) as usize, m as u64);
        // SAFETY: `bits < 2^64`, so `cell < alias.len()`.
        let entry = unsafe { *self.alias.get_unchecked(cell) };
        let k = if low < entry & !ALIAS_MASK {
            cell as u64
        } else {
            entry & ALIAS_MASK
        };
        self.k_min + k as u32
    }

    /// How many of `count` candidates thinning drops, each independently
    /// with probability `1 - r`, `r = Phi(x) / p_max`: `D ~ Binomial(count,
    /// 1 - r)`, by inversion of the uniform `u`. `x` lies at `frac` of
    /// eighth `j` of the slice.
    ///
    /// The interpolated ratio is within the slice's error bound of `r`, so
    /// the CDF computed from it is within a known margin of the true one,
    /// and `u` farther than that from it settles each step of the
    /// inversion at once. Only when `u` falls within the margin (about once
    /// in several thousand draws) is `Phi(x)` itself computed. Draws whose
    /// expected drops are many fall back to an exact Binomial draw.
    #[inline]
    fn drops(&self, count: u32, x: f64, j: usize, frac: f64, u: f64, rng: &mut PathRng) -> u32 {
        let line = interpolate(&self.ratios, j, frac).min(1.0);
        // The CDF moves by at most `count` per unit of `r` (its derivative
        // is `count` times a Binomial probability), so the CDF at the
        // interpolated ratio is within `count x spread` of the true one;
        // 1e-12 covers the rounding in computing it.
        let margin = f64::from(count) * self.spread + 1e-12;
        if line - self.spread > 0.0
            && f64::from(count) * (1.0 - line + self.spread) <= MAX_INVERTED_DROPS
            && let Some(d) = invert(count, line, margin, u)
        {
            return d;
        }
        self.drops_exact(count, x, u, rng)
    }

    /// [`Slice::drops`] with `r` computed from `Phi(x)`.
    #[cold]
    #[inline(never)]
    fn drops_exact(&self, count: u32, x: f64, u: f64, rng: &mut PathRng) -> u32 {
        let r = (norm_cdf(x) / self.p_max).min(1.0);
        if f64::from(count) * (1.0 - r) <= MAX_INVERTED_DROPS
            && let Some(d) = invert(count, r, 0.0, u)
        {
            return d;
        }
        exact_binomial(count, 1.0 - r, rng)
    }
}

/// The largest multiple of 2^-16 not above `x`, in units of 2^-16 (0 for
/// `x <= 0`, at most 65,535).
fn units_below(x: f64) -> u16 {
    // The conversion truncates and saturates: the floor, clamped (without
    // a call to `floor`, which the generic x86-64 target lacks).
    (x * 65_536.0) as u16
}

/// The smallest multiple of 2^-16 not below `x`, in units of 2^-16, at
/// most 65,535 (then possibly below `x`: [`Slice::build`] uses it only as
/// the low end of a window whose high end, from [`units_below`], is at most
/// 65,535, so a clamped value never opens a window).
fn units_above(x: f64) -> u16 {
    let y = x * 65_536.0;
    let t = y as u16;
    t.saturating_add(u16::from(f64::from(t) < y))
}

/// The thinning ratio at `frac` of eighth `j`, interpolated linearly
/// between its values at the eighth's ends.
#[inline]
fn interpolate(ratios: &[f64; SUB_SLICES + 1], j: usize, frac: f64) -> f64 {
    ratios[j] + (ratios[j + 1] - ratios[j]) * frac
}

/// Inverts at `u` the CDF `F` of `D ~ Binomial(count, 1 - r)` (`0 < r <=
/// 1`), computed at an `r` whose CDF is within `margin` of the true one at
/// every point: `Some(d)` when `u` settles it, `None` when `u` falls within
/// `margin` of the CDF (never for a margin of 0), or when `r^count`
/// underflows.
#[inline]
fn invert(count: u32, r: f64, margin: f64, u: f64) -> Option<u32> {
    let mut p = power(r, count);
    if p == 0.0 {
        return None;
    }
    let mut f = p;
    let odds = (1.0 - r) / r;
    let mut d = 0;
    loop {
        if u < f - margin {
            return Some(d);
        }
        if u < f + margin {
            return None;
        }
        if d == count {
            // The CDF at `count` is 1 > u, up to rounding.
            return Some(count);
        }
        d += 1;
        p *= f64::from(count - d + 1) / f64::from(d) * odds;
        f += p;
    }
}

/// `a^e` by squaring and multiplying. The factor of each bit of `e` is
/// chosen by masking its bits, not by a branch: the bits of a random count
/// are themselves random, and a branch on them would be mispredicted half
/// the time.
#[inline]
fn power(a: f64, mut e: u32) -> f64 {
    let one = 1.0f64.to_bits();
    let mut base = a;
    let mut p = 1.0;
    while e > 0 {
        let mask = 0u64.wrapping_sub(u64::from(e & 1));
        p *= f64::from_bits((base.to_bits() & mask) | (one & !mask));
        base *= base;
        e >>= 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use statrs::function::gamma::ln_gamma;

    fn rng() -> PathRng {
        PathRng::seed_from_u64(99)
    }

    fn binomial_pmf(n: u32, p: f64) -> Vec<f64> {
        let nf = f64::from(n);
        (0..=n)
            .map(|k| {
                let k = f64::from(k);
                (ln_gamma(nf + 1.0) - ln_gamma(k + 1.0) - ln_gamma(nf - k + 1.0)
                    + k * p.ln()
                    + (nf - k) * (-p).ln_1p())
                .exp()
            })
            .collect()
    }

    /// Chi-square statistic of `draws` samples against `pmf`, pooling cells
    /// with fewer than 20 expected.
    fn chi_square(counts: &[u64], pmf: &[f64], draws: u64) -> (f64, usize) {
        let (mut stat, mut cells) = (0.0, 0);
        let (mut obs, mut exp) = (0.0, 0.0);
        for (k, p) in pmf.iter().enumerate() {
            obs += counts.get(k).copied().unwrap_or(0) as f64;
            exp += p * draws as f64;
            if exp >= 20.0 {
                stat += (obs - exp).powi(2) / exp;
                cells += 1;
                obs = 0.0;
                exp = 0.0;
            }
        }
        if exp > 0.0 {
            stat += (obs - exp).powi(2) / exp.max(1e-9);
            cells += 1;
        }
        (stat, cells)
    }

    #[test]
    fn uniform_draws_are_uniform() {
        let mut r = rng();
        let mut counts = [0u64; 7];
        let mut lanes = Lanes16::new();
        for _ in 0..70_000 {
            counts[uniform_below(&mut r, 7) as usize] += 1;
        }
        let (stat, _) = chi_square(&counts, &[1.0 / 7.0; 7], 70_000);
        assert!(stat < 25.0, "chi-square {stat}");
        let mut counts = vec![0u64; 600];
        for _ in 0..600_000 {
            counts[lanes.below(&mut r, 600) as usize] += 1;
        }
        let (stat, cells) = chi_square(&counts, &[1.0 / 600.0; 600], 600_000);
        assert!(
            stat < cells as f64 + 8.0 * (2.0 * cells as f64).sqrt(),
            "lanes chi-square {stat}"
        );
        assert_eq!(lanes.below(&mut r, 1), 0);
        assert!(lanes.below(&mut r, 1 << 20) < 1 << 20);
    }

    #[test]
    fn table_draws_follow_the_binomial() {
        // Several x across and outside the tabled range, including the
        // fallback, with group sizes that give short and long tables.
        for &(n, x) in &[
            (500u32, -2.05),
            (500, -1.3),
            (40, -3.7),
            (2000, -0.4),
            (500, -9.5),
            (100_000, -2.0),
            (3, 0.5),
            (64, 1.9),
        ] {
            let table = BinomialTable::new(n);
            let mut r = rng();
            let draws = 200_000u64;
            let mut counts = vec![0u64; n as usize + 1];
            for _ in 0..draws {
                counts[table.sample(x, &mut r) as usize] += 1;
            }
            let pmf = binomial_pmf(n, norm_cdf(x));
            let (stat, cells) = chi_square(&counts, &pmf, draws);
            // About the 99.99% point of chi-square with `cells` degrees of freedom.
            let limit = cells as f64 + 8.0 * (2.0 * cells as f64).sqrt() + 20.0;
            assert!(
                stat < limit,
                "n {n} x {x}: chi-square {stat} over {cells} cells"
            );
            let mean: f64 = counts
                .iter()
                .enumerate()
                .map(|(k, c)| k as f64 * *c as f64)
                .sum::<f64>()
                / draws as f64;
            let want = f64::from(n) * norm_cdf(x);
            let se = (want * (1.0 - norm_cdf(x)) / draws as f64)
                .sqrt()
                .max(1e-12);
            assert!(
                (mean - want).abs() < 5.0 * se + 1e-9,
                "n {n} x {x}: mean {mean} vs {want}"
            );
        }
    }

    /// The alias table gives every value the probability it was built
    /// with, to within the documented 4e-14, for Binomial-shaped and for
    /// awkward weights (one huge entry, many tiny ones, equal ones).
    #[test]
    fn alias_tables_are_exact() {
        let shapes: Vec<Vec<f64>> = vec![
            binomial_pmf(500, 0.03),
            binomial_pmf(600, 0.5),
            vec![1.0],
            vec![1.0; 640],
            std::iter::once(1.0)
                .chain(std::iter::repeat_n(1e-17, 300))
                .collect(),
            (1..=97).map(|i| f64::from(i).powi(3)).collect(),
        ];
        for weights in shapes {
            let table = alias_table(&weights);
            let len = table.len();
            let total: f64 = weights.iter().sum();
            let mut got = vec![0.0f64; len];
            for (cell, &entry) in table.iter().enumerate() {
                let keep = (entry & !ALIAS_MASK) as f64 / 18_446_744_073_709_551_616.0;
                got[cell] += keep / len as f64;
                got[(entry & ALIAS_MASK) as usize] += (1.0 - keep) / len as f64;
            }
            for (i, (&g, &w)) in got.iter().zip(&weights).enumerate() {
                let want = w / total;
                assert!(
                    (g - want).abs() < 4e-14,
                    "len {len}, value {i}: {g} vs {want}"
                );
            }
        }
    }

    /// The interpolated thinning ratio is within its slice's bound of the
    /// exact one everywhere (not only on the grid that set the bound).
    #[test]
    fn slice_interpolation_is_certified() {
        for i in (0..((X_MAX - X_MIN) * SLICES_PER_UNIT) as usize).step_by(7) {
            if let Some(s) = Slice::build(500, i) {
                assert!(s.spread < 1e-4, "slice {i}: spread {}", s.spread);
                let bottom = X_MIN + i as f64 / SLICES_PER_UNIT;
                for k in 0..1000 {
                    let x = bottom + (k as f64 + 0.37) / 1000.0 / SLICES_PER_UNIT;
                    let pos = (x - X_MIN) * SLICES_PER_UNIT * SUB_SLICES as f64;
                    let eighths = pos.floor();
                    let j = eighths as usize % SUB_SLICES;
                    let f = pos - eighths;
                    let line = interpolate(&s.ratios, j, f);
                    let exact = norm_cdf(x) / s.p_max;
                    assert!(
                        (line - exact).abs() <= s.spread,
                        "slice {i} x {x}: {line} vs {exact}"
                    );
                }
            }
        }
    }

    /// Inversion with a margin gives the exact draw whenever it decides,
    /// and the drops follow the Binomial.
    #[test]
    fn drops_follow_the_binomial() {
        for &(count, r) in &[
            (45u32, 0.98),
            (1, 0.9),
            (700, 0.985),
            (30, 0.9999),
            (200, 0.8),
        ] {
            let pmf = binomial_pmf(count, 1.0 - r);
            let cdf: Vec<f64> = pmf
                .iter()
                .scan(0.0, |acc, p| {
                    *acc += p;
                    Some(*acc)
                })
                .collect();
            let mut rng = rng();
            let draws = 200_000u64;
            let mut counts = vec![0u64; count as usize + 1];
            for _ in 0..draws {
                let u = unit(&mut rng);
                let d = invert(count, r, 0.0, u).expect("exact r always settles");
                // The smallest d whose CDF exceeds u, up to rounding.
                let want = cdf.iter().position(|&c| u < c).unwrap_or(count as usize);
                assert!(
                    (d as i64 - want as i64).abs() <= 1,
                    "count {count} r {r} u {u}"
                );
                counts[d as usize] += 1;
                // A ratio off by up to 1e-6, with the margin that covers
                // it, decides the same way or not at all.
                let margin = f64::from(count) * 1e-6 + 1e-12;
                for off in [-1e-6, 1e-6] {
                    if let Some(b) = invert(count, (r + off).min(1.0), margin, u) {
                        assert_eq!(b, d, "count {count} r {r} off {off} u {u}");
                    }
                }
            }
            let (stat, cells) = chi_square(&counts, &pmf, draws);
            let limit = cells as f64 + 8.0 * (2.0 * cells as f64).sqrt() + 20.0;
            assert!(stat < limit, "count {count} r {r}: chi-square {stat}");
        }
        // A ratio of 1 (the top of a slice) drops nothing.
        assert_eq!(invert(30, 1.0, 0.0, 0.999_999), Some(0));
    }

    /// Bounds in units of 2^-16 are rounded outwards, by less than one
    /// unit, and compare with a uniform's top 16 bits as with the uniform.
    #[test]
    fn bounds_round_outwards() {
        let mut rng = rng();
        for _ in 0..100_000 {
            let x = unit(&mut rng).powi(3);
            let (below, above) = (units_below(x), units_above(x));
            let (lo, hi) = (f64::from(below) / 65_536.0, f64::from(above) / 65_536.0);
            assert!(lo <= x && x - lo < 1.0 / 65_536.0, "{x} down to {lo}");
            if x <= 65_535.0 / 65_536.0 {
                assert!(hi >= x && hi - x < 1.0 / 65_536.0, "{x} up to {hi}");
            }
            let bits = rng.next_u64();
            let (u, h) = (unit_of(bits), (bits >> 48) as u16);
            assert_eq!(h < below, u < lo, "u {u} bound {lo}");
            assert_eq!(h >= above, u >= hi, "u {u} bound {hi}");
        }
        assert_eq!((units_below(0.0), units_below(-1e-15)), (0, 0));
        assert_eq!(units_below(1.0 - 1e-15), 65_535);
        assert_eq!(
            (units_above(0.5), units_above(0.5 + 1e-15)),
            (32_768, 32_769)
        );
    }

    /// Asking for a quick-test row is only a hint: for every place, built
    /// or not, inside the tables or beyond them, it neither fails nor
    /// changes a draw.
    #[test]
    fn prefetch_quick_is_only_a_hint() {
        let (hinted, plain) = (BinomialTable::new(500), BinomialTable::new(500));
        let (mut a, mut b) = (rng(), rng());
        let slices = ((X_MAX - X_MIN) * SLICES_PER_UNIT) as u32;
        for round in 0..2 {
            for e in (0..slices * SUB_SLICES as u32 + 50).step_by(7) {
                hinted.prefetch_quick(e);
                let x = X_MIN + (f64::from(e) + 0.5) / (SLICES_PER_UNIT * SUB_SLICES as f64);
                if (-4.0..0.0).contains(&x) {
                    let at = hinted.locate(x);
                    hinted.prefetch_quick(at.unwrap_or(u32::MAX));
                    assert_eq!(
                        hinted.sample_at(x, at, &mut a),
                        plain.sample(x, &mut b),
                        "round {round}, x = {x}"
                    );
                }
            }
        }
        hinted.prefetch_quick(u32::MAX);
    }

    /// The quick tests settle a draw only where thinning by inversion (and
    /// its exact fallback) finds the same: none dropped below the first
    /// bound, exactly one in the window, so they change no draw; and they
    /// settle most draws near the mode. Uniforms are tried at both edges
    /// of every bound and window, where a bound moved by one unit of 2^-16
    /// outwards would fail for some eighth.
    #[test]
    fn quick_test_agrees_with_thinning() {
        let mut rng = rng();
        let unit_of_h = |h: u16| f64::from(h) / 65_536.0;
        let (mut kept, mut one, mut tried) = (0u64, 0u64, 0u64);
        for &n in &[40u32, 500, 25_000] {
            for i in (0..((X_MAX - X_MIN) * SLICES_PER_UNIT) as usize).step_by(5) {
                let Some(s) = Slice::build(n, i) else {
                    continue;
                };
                let bottom = X_MIN + i as f64 / SLICES_PER_UNIT;
                for k in 0..40 {
                    // Points across the slice, its very bottom included.
                    let x = bottom + k as f64 / 40.0 / SLICES_PER_UNIT;
                    let pos = (x - X_MIN) * SLICES_PER_UNIT;
                    let eighths = (pos * SUB_SLICES as f64).floor();
                    if (eighths as usize) / SUB_SLICES != i {
                        continue;
                    }
                    let j = eighths as usize % SUB_SLICES;
                    let frac = pos * SUB_SLICES as f64 - eighths;
                    let row = &s.quick.0[j];
                    for q in 0..QUICK {
                        let count = s.quick_base + q as u32;
                        if count == 0 || count > n {
                            continue;
                        }
                        let keep = row.keep[q];
                        if keep > 0 {
                            // Uniforms below the bound, the highest first.
                            let top = unit_of_h(keep);
                            for u in [top * (1.0 - 1e-15), top * 0.999, unit(&mut rng) * top] {
                                tried += 1;
                                let d = s.drops(count, x, j, frac, u, &mut rng);
                                assert_eq!(d, 0, "n {n} slice {i} x {x} count {count} u {u}");
                            }
                        }
                        let [low, high] = row.one[q];
                        if low < high {
                            let (lo, hi) = (unit_of_h(low), unit_of_h(high));
                            let inside = lo + unit(&mut rng) * (hi - lo);
                            for u in [lo, hi * (1.0 - 1e-15), inside] {
                                tried += 1;
                                let d = s.drops(count, x, j, frac, u, &mut rng);
                                assert_eq!(d, 1, "n {n} slice {i} x {x} count {count} u {u}");
                            }
                        }
                        let h = (rng.next_u64() >> 48) as u16;
                        if h < keep {
                            kept += 1;
                        } else if h >= low && h < high {
                            one += 1;
                        }
                    }
                }
            }
        }
        assert!(tried > 10_000, "only {tried} checks");
        assert!(kept > 0 && one > 0, "kept {kept} one {one}");
    }
}
