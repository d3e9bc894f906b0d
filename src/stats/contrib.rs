//! Contributions of the parts of a total (segments, banks) to its expected
//! shortfall.
//!
//! Paths are binned by their total exactly as in [`super::Sketch`]; each bin
//! keeps its weight and the exact (fixed-point) weighted sum of every part.
//! Expected shortfall at level q takes the bins from the top, whole ones
//! fully and the boundary bin fractionally, and each part's contribution
//! uses the very same weights, so the contributions add up to the expected
//! shortfall of the total, also when many paths tie at the boundary (they
//! then share one bin and count fractionally together, as Acerbi and Tasche
//! define it). Bins are kept in a hash map, so memory follows the bins
//! touched, never the number of paths; queries sort the bins, so results do
//! not depend on the map's order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::sketch::{ONE, SUB_BITS, SUM_SCALE, fixed_value};

/// A fast hasher for bin keys (small integers); any hash gives the same
/// results, since queries sort the bins.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type Bins = HashMap<u32, Box<[i128]>, BuildHasherDefault<KeyHasher>>;

/// Per-bin sums of the parts of a non-negative total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Contributions {
    /// Number of parts.
    parts: usize,
    /// Weight of the paths whose total is zero.
    zero: u128,
    /// Per bin key: the bin's weight (as i128), then each part's
    /// fixed-point weighted sum.
    bins: Bins,
}

impl Contributions {
    /// Contributions of `parts` parts.
    pub fn new(parts: usize) -> Self {
        Self {
            parts,
            ..Self::default()
        }
    }

    /// Adds a path whose total is `total` (non-negative, finite) and whose
    /// parts are `parts`, with weight `w` (`wfx = fixed_weight(w)`).
    #[inline]
    pub fn add(&mut self, total: f64, parts: &[f64], w: f64, wfx: u128) {
        if total <= 0.0 {
            self.zero += wfx;
            return;
        }
        let key = (total.to_bits() >> (52 - SUB_BITS)) as u32;
        let width = 1 + self.parts;
        let row = self
            .bins
            .entry(key)
            .or_insert_with(|| vec![0; width].into_boxed_slice());
        row[0] += wfx as i128;
        for (acc, &v) in row[1..].iter_mut().zip(parts) {
            *acc += fixed_value(w * v);
        }
    }

    /// Adds another set of sums into this one, exactly.
    pub fn merge(&mut self, other: &Contributions) {
        self.zero += other.zero;
        for (key, src) in &other.bins {
            match self.bins.get_mut(key) {
                Some(dst) => dst.iter_mut().zip(src.iter()).for_each(|(d, s)| *d += s),
                None => {
                    self.bins.insert(*key, src.clone());
                }
            }
        }
    }

    /// Each part's contribution to the expected shortfall of the total at
    /// level `num/den`, over `paths` paths. They add up to that expected
    /// shortfall. `None` when no path was added.
    pub fn expected_shortfall(&self, num: u128, den: u128, paths: u64) -> Option<Vec<f64>> {
        if paths == 0 {
            return None;
        }
        let total = u128::from(paths) * ONE;
        let need = (den - num).checked_mul(total)?;
        let tail_paths = need as f64 / (den as f64 * ONE as f64);
        let mut keys: Vec<&u32> = self.bins.keys().collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        let mut out = vec![0.0; self.parts];
        let mut taken: u128 = 0;
        for key in keys {
            let row = &self.bins[key];
            let w = (row[0] as u128).checked_mul(den)?;
            let take = w.min(need - taken);
            let fraction = if take == w {
                1.0
            } else {
                take as f64 / w as f64
            };
            for (o, &s) in out.iter_mut().zip(&row[1..]) {
                *o += fraction * s as f64 / SUM_SCALE;
            }
            taken += take;
            if taken == need {
                break;
            }
        }
        // Paths with a zero total contribute nothing.
        Some(out.into_iter().map(|c| c / tail_paths).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contributions_add_up_with_ties_at_the_boundary() {
        // 100 paths; two parts. Totals: 90 paths at 0, 10 paths tied at 10
        // (parts 3 + 7). ES at 95% is the mean of the worst 5 paths: 10,
        // with contributions 3 and 7 although the boundary cuts the tie.
        let mut c = Contributions::new(2);
        for i in 0..100 {
            if i % 10 == 0 {
                c.add(10.0, &[3.0, 7.0], 1.0, ONE);
            } else {
                c.add(0.0, &[0.0, 0.0], 1.0, ONE);
            }
        }
        let es = c.expected_shortfall(95, 100, 100).unwrap();
        assert!(
            (es[0] - 3.0).abs() < 1e-12 && (es[1] - 7.0).abs() < 1e-12,
            "{es:?}"
        );
        // At 85%: the 10 tied paths and 5 zero paths: (10 x 10 + 0) / 15.
        let es = c.expected_shortfall(85, 100, 100).unwrap();
        assert!(((es[0] + es[1]) - 100.0 / 15.0).abs() < 1e-12);
    }

    #[test]
    fn merge_matches_a_single_pass() {
        let mut whole = Contributions::new(3);
        let mut a = Contributions::new(3);
        let mut b = Contributions::new(3);
        for i in 0..500 {
            let parts = [
                (i % 7) as f64 * 1e6,
                (i % 11) as f64 * 2.5e5,
                (i % 3) as f64,
            ];
            let total: f64 = parts.iter().sum();
            whole.add(total, &parts, 1.0, ONE);
            if i < 200 { &mut a } else { &mut b }.add(total, &parts, 1.0, ONE);
        }
        b.merge(&a);
        assert_eq!(b, whole);
    }
}
