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
//! 64-bit number, no search). Each of the `K'` candidates is then kept with probability
//! `r = Phi(x) / p_max`: thinning a Binomial this way gives exactly
//! `Binomial(n, Phi(x))`. A candidate's keep test reads 8 random bits; on
//! each eighth of a slice `r` never falls below its value at the eighth's
//! bottom, so almost every byte keeps its candidate at once. The few that cannot are settled
//! with a Chebyshev polynomial for `r` (its error bound checked against
//! `Phi` when the slice is built), more random bits, and `Phi(x)` itself only
//! when the polynomial cannot decide.
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
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
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
/// Parts of a slice with their own keep threshold for thinning.
const SUB_SLICES: usize = 8;
/// Highest degree tried for a slice's polynomial.
const MAX_DEGREE: usize = 12;
/// Largest certified error accepted for a slice's polynomial.
const MAX_ERROR: f64 = 1e-12;

/// The CDF table of `Binomial(n, p_max)` for one slice, and the polynomial
/// for the thinning ratio.
#[derive(Debug)]
struct Slice {
    /// Upper bound of `Phi(x)` on the slice.
    p_max: f64,
    /// Smallest `k` in the table (the mass below it is under 1e-16).
    k_min: u32,
    /// Walker's alias table of `K' - k_min`: entry `i` holds, in its top
    /// 54 bits, the chance (in units of 2^-64) that cell `i` keeps `i`, and
    /// in its low 10 bits the alias the cell gives otherwise.
    alias: Box<[u64]>,
    /// Middle and inverse half-width of the slice, for the polynomial.
    center: f64,
    inv_half: f64,
    /// Chebyshev coefficients of `r(x) = Phi(x) / p_max` on the slice.
    coef: Box<[f64]>,
    /// Per eighth of the slice: a candidate whose random byte is below this
    /// is kept, `floor(256 Phi(bottom of the eighth) / p_max)`, the ratio
    /// shaded down by 1e-9 for safety.
    keep_bytes: [u8; SUB_SLICES],
    /// Bound on the polynomial's error.
    error: f64,
}

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
                crate::math::prefetch(slice);
                return Some(eighths);
            }
        }
        None
    }

    /// Draws `K ~ Binomial(n, Phi(x))` exactly.
    #[inline]
    pub fn sample(&self, x: f64, rng: &mut PathRng) -> u32 {
        self.sample_at(x, self.locate(x), rng)
    }

    /// [`BinomialTable::sample`] for an `x` already located.
    #[inline]
    pub fn sample_at(&self, x: f64, at: Option<u32>, rng: &mut PathRng) -> u32 {
        if let Some(eighths) = at {
            let i = eighths as usize / SUB_SLICES;
            if let Some(cell) = self.slices.get(i)
                && let Some(s) = cell.get_or_init(|| Slice::build(self.n, i))
            {
                let candidates = s.draw(rng.next_u64());
                return if candidates == 0 {
                    0
                } else {
                    s.thin(candidates, x, eighths as usize % SUB_SLICES, rng)
                };
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

/// Chebyshev coefficients of degree `degree` for `f` on `[-1, 1]`.
fn chebyshev(f: impl Fn(f64) -> f64, degree: usize) -> Vec<f64> {
    let n = degree + 1;
    let values: Vec<f64> = (0..n)
        .map(|k| f((std::f64::consts::PI * (k as f64 + 0.5) / n as f64).cos()))
        .collect();
    let mut coef: Vec<f64> = (0..n)
        .map(|j| {
            let s: f64 = values
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    v * (std::f64::consts::PI * j as f64 * (k as f64 + 0.5) / n as f64).cos()
                })
                .sum();
            2.0 * s / n as f64
        })
        .collect();
    coef[0] *= 0.5;
    coef
}

/// Evaluates a Chebyshev series at `t` in `[-1, 1]` (Clenshaw).
#[inline]
fn clenshaw(coef: &[f64], t: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &c in coef[1..].iter().rev() {
        let b0 = c + 2.0 * t * b1 - b2;
        b2 = b1;
        b1 = b0;
    }
    coef[0] + t * b1 - b2
}

impl Slice {
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

        // The thinning ratio as a certified polynomial.
        let center = 0.5 * (bottom + top);
        let half = 0.5 * (top - bottom);
        let ratio = |t: f64| (norm_cdf(center + half * t) / p).min(1.0);
        // The exact ratio on a dense grid, to check each candidate fit.
        let grid: Vec<(f64, f64)> = (0..=256)
            .map(|k| {
                let t = -1.0 + 2.0 * k as f64 / 256.0;
                (t, ratio(t))
            })
            .collect();
        let mut fit = None;
        for degree in (4..=MAX_DEGREE).step_by(2) {
            let coef = chebyshev(ratio, degree);
            let worst = grid
                .iter()
                .map(|&(t, exact)| (clenshaw(&coef, t) - exact).abs())
                .fold(0.0, f64::max);
            // A margin over the worst error seen on a dense grid.
            let error = 4.0 * worst + 1e-15;
            if error <= MAX_ERROR {
                fit = Some((coef, error));
                break;
            }
        }
        let (coef, error) = fit?;
        // The smallest ratio on each eighth of the slice, shaded down so
        // that rounding in Phi cannot push a byte across it. The shade (1e-9
        // relative, above twice the polynomial's certified error on any
        // ratio above 0.002) also makes every byte these keep at once one
        // that the polynomial's interval would keep at once: the decisions,
        // and the random numbers read, are those of the polynomial alone.
        let mut keep_bytes = [0u8; SUB_SLICES];
        for (j, kb) in keep_bytes.iter_mut().enumerate() {
            let x = bottom + j as f64 / (SLICES_PER_UNIT * SUB_SLICES as f64);
            let r_low = norm_cdf(x) / p * (1.0 - 1e-9);
            *kb = (r_low * 256.0).clamp(0.0, 255.0) as u8;
        }
        Some(Slice {
            keep_bytes,
            p_max: p,
            k_min,
            alias,
            center,
            inv_half: 1.0 / half,
            coef: coef.into_boxed_slice(),
            error,
        })
    }

    /// `K'` from one 64-bit random number, by the alias method: the top
    /// of `bits * len` picks a cell, the bits below it decide between the
    /// cell's own value and its alias. No loop and no search: a draw costs
    /// the same wherever it lands.
    #[inline]
    fn draw(&self, bits: u64) -> u32 {
        let m = u128::from(bits) * self.alias.len() as u128;
        let cell = (m >> 64) as usize;
        let low = m as u64;
        // SAFETY: `bits < 2^64`, so `cell < alias.len()`.
        let entry = unsafe { *self.alias.get_unchecked(cell) };
        let k = if low < entry & !ALIAS_MASK {
            cell as u64
        } else {
            entry & ALIAS_MASK
        };
        self.k_min + k as u32
    }

    /// Keeps each of `count` candidates with probability `r = Phi(x) / p_max`;
    /// `x` lies in eighth `eighth` of the slice (up to rounding, which the
    /// thresholds' shading covers).
    ///
    /// A candidate's uniform is `U = (b + V) / 256`, with `b` a random byte
    /// and `V` uniform; it is kept when `U < r`. On the eighth of the slice
    /// that holds `x`, `r` is at least `r_low`, so a byte below `floor(256
    /// r_low)` keeps the candidate at once: for PDs of a few percent that is
    /// all but about one byte in 45 (one in 26 with a single threshold per
    /// slice, whose bottom is a whole slice below its top). The others are
    /// settled with the slice's polynomial for `r` (and its error bound),
    /// more random bits, and `Phi(x)` itself only when the polynomial's
    /// interval cannot decide.
    #[inline]
    fn thin(&self, count: u32, x: f64, eighth: usize, rng: &mut PathRng) -> u32 {
        let threshold = u64::from(self.keep_bytes[eighth]) * ONES;
        let mut left = count;
        while left > 0 {
            let lanes = left.min(8) as usize;
            let word = rng.next_u64();
            let (even, odd) = doubtful(word, threshold, lanes);
            left -= lanes as u32;
            if even | odd != 0 {
                return count - self.thin_doubtful(word, even, odd, left, threshold, x, rng);
            }
        }
        count
    }

    /// The rest of a [`Slice::thin`] from its first word with a doubtful
    /// byte, out of line so that its set-up never weighs on the common case
    /// (a small group whose bytes all keep at once); large groups, where
    /// doubtful bytes are common, finish here in one call. Settles the
    /// doubtful bytes of `word` (the lanes marked in `even`, then in `odd`),
    /// then thins the `left` candidates still to come, the same way and in
    /// the same order; returns how many candidates it dropped.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn thin_doubtful(
        &self,
        mut word: u64,
        mut even: u64,
        mut odd: u64,
        mut left: u32,
        threshold: u64,
        x: f64,
        rng: &mut PathRng,
    ) -> u32 {
        // The polynomial's interval for r, and r itself, computed at most
        // once and only when a byte needs them.
        let mut bounds: Option<(f64, f64)> = None;
        let mut exact: Option<f64> = None;
        let mut dropped = 0;
        loop {
            // Visit only the doubtful bytes: even ones, then odd ones.
            for (mut mask, offset) in [(even, 0), (odd, 1)] {
                while mask != 0 {
                    let lane16 = mask.trailing_zeros() / 16;
                    mask &= mask - 1;
                    let b = ((word >> (16 * lane16 + 8 * offset)) & 0xff) as u32;
                    let (low, high) = *bounds.get_or_insert_with(|| {
                        let r = clenshaw(&self.coef, (x - self.center) * self.inv_half);
                        (r - self.error, r + self.error)
                    });
                    let b = f64::from(b);
                    let keep = if (b + 1.0) / 256.0 <= low {
                        true
                    } else if b / 256.0 >= high {
                        false
                    } else {
                        let u = (b + unit(rng)) / 256.0;
                        if u < low {
                            true
                        } else if u >= high {
                            false
                        } else {
                            u < *exact.get_or_insert_with(|| (norm_cdf(x) / self.p_max).min(1.0))
                        }
                    };
                    dropped += u32::from(!keep);
                }
            }
            if left == 0 {
                return dropped;
            }
            let lanes = left.min(8) as usize;
            word = rng.next_u64();
            (even, odd) = doubtful(word, threshold, lanes);
            left -= lanes as u32;
        }
    }
}

/// The doubtful bytes among the first `lanes` bytes of `word`: those that
/// reached `threshold` (the keep byte in every 16-bit lane), as the top bits
/// of their lanes, even bytes then odd bytes. A lane's top bit after
/// subtracting the threshold says whether its byte reached it.
#[inline(always)]
fn doubtful(word: u64, threshold: u64, lanes: usize) -> (u64, u64) {
    let even = ((word & EVEN) | HIGH).wrapping_sub(threshold) & HIGH & LIVE_EVEN[lanes];
    let odd = (((word >> 8) & EVEN) | HIGH).wrapping_sub(threshold) & HIGH & LIVE_ODD[lanes];
    (even, odd)
}

/// The even bytes of a word, each in a 16-bit lane.
const EVEN: u64 = 0x00ff_00ff_00ff_00ff;
/// The top bit of each 16-bit lane.
const HIGH: u64 = 0x8000_8000_8000_8000;
/// One in each 16-bit lane.
const ONES: u64 = 0x0001_0001_0001_0001;
/// For `i` live bytes: the lanes of the live even bytes (0, 2, 4, 6) ...
const LIVE_EVEN: [u64; 9] = [
    0,
    0x8000,
    0x8000,
    0x8000_8000,
    0x8000_8000,
    0x8000_8000_8000,
    0x8000_8000_8000,
    HIGH,
    HIGH,
];
/// ... and of the live odd bytes (1, 3, 5, 7).
const LIVE_ODD: [u64; 9] = [
    0,
    0,
    0x8000,
    0x8000,
    0x8000_8000,
    0x8000_8000,
    0x8000_8000_8000,
    0x8000_8000_8000,
    HIGH,
];

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

    #[test]
    fn slice_polynomials_are_certified() {
        for i in (0..((X_MAX - X_MIN) * SLICES_PER_UNIT) as usize).step_by(7) {
            if let Some(s) = Slice::build(500, i) {
                assert!(s.error <= MAX_ERROR);
                let bottom = X_MIN + i as f64 / SLICES_PER_UNIT;
                for k in 0..100 {
                    let x = bottom + (k as f64 + 0.37) / 100.0 / SLICES_PER_UNIT;
                    let approx = clenshaw(&s.coef, (x - s.center) * s.inv_half);
                    let exact = norm_cdf(x) / s.p_max;
                    assert!(
                        (approx - exact).abs() <= s.error,
                        "slice {i} x {x}: {approx} vs {exact}"
                    );
                }
            }
        }
    }
}
