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
//! define it). Bins live in pages (one per factor of two of the total) of
//! chunks of 64 rows, allocated as they are first touched, so memory
//! follows the bins touched, never the number of paths, and a bin is found
//! by address arithmetic (no hashing). Queries list the bins in order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sketch::{ONE, SUB_BITS, SUM_SCALE, fixed_value, fixed_weight};
use crate::math::prefetch;

/// Rows per chunk.
const CHUNK: usize = 64;
/// Chunks per page (factor of two).
const CHUNKS: usize = (1 << SUB_BITS) / CHUNK;
/// Paths whose rows are found (and fetched) before any is updated.
const BLOCK: usize = 16;

/// The rows of one factor of two of the total, in chunks of [`CHUNK`] rows
/// of `1 + parts` numbers each: the bin's weight (as i128), then each
/// part's fixed-point weighted sum.
#[derive(Clone, Debug)]
struct Page {
    chunks: [Option<Box<[i128]>>; CHUNKS],
}

/// Per-bin sums of the parts of a non-negative total.
/// Saved in its sparse form (`SavedContributions`), written from a
/// reference (no copy of the pages first).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(from = "SavedContributions<Box<[i128]>>")]
pub struct Contributions {
    /// Number of parts.
    parts: usize,
    /// Weight of the paths whose total is zero.
    zero: u128,
    /// Pages by the total's sign-and-exponent bits.
    pages: Vec<Option<Box<Page>>>,
}

/// Contributions as saved (shard and checkpoint files): every touched bin
/// by key, in ascending order (the same contributions always give the same
/// bytes). Rows are written borrowed (`&[i128]`) and read owned.
#[derive(Serialize, Deserialize)]
struct SavedContributions<R> {
    parts: usize,
    zero: u128,
    bins: BTreeMap<u32, R>,
}

impl Serialize for Contributions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SavedContributions::<&[i128]> {
            parts: self.parts,
            zero: self.zero,
            bins: self.rows().into_iter().collect(),
        }
        .serialize(serializer)
    }
}

impl From<SavedContributions<Box<[i128]>>> for Contributions {
    fn from(s: SavedContributions<Box<[i128]>>) -> Self {
        let mut c = Contributions::new(s.parts);
        c.zero = s.zero;
        for (key, src) in s.bins {
            for (d, v) in c.row(key).iter_mut().zip(src.iter()) {
                *d += v;
            }
        }
        c
    }
}

impl PartialEq for Contributions {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts && self.zero == other.zero && self.rows() == other.rows()
    }
}

impl Contributions {
    /// Contributions of `parts` parts.
    pub fn new(parts: usize) -> Self {
        Self {
            parts,
            ..Self::default()
        }
    }

    /// The row of bin `key`, creating its page and chunk if need be.
    #[inline]
    fn row(&mut self, key: u32) -> &mut [i128] {
        let width = 1 + self.parts;
        let top = (key >> SUB_BITS) as usize;
        let sub = (key as usize) & ((1 << SUB_BITS) - 1);
        if top >= self.pages.len() {
            self.pages.resize_with(top + 1, || None);
        }
        let page = self.pages[top].get_or_insert_with(|| {
            Box::new(Page {
                chunks: [const { None }; CHUNKS],
            })
        });
        let chunk = page.chunks[sub / CHUNK]
            .get_or_insert_with(|| vec![0; CHUNK * width].into_boxed_slice());
        &mut chunk[(sub % CHUNK) * width..][..width]
    }

    /// The bin key of a positive total.
    #[inline]
    fn key(total: f64) -> u32 {
        (total.to_bits() >> (52 - SUB_BITS)) as u32
    }

    /// Every touched bin (non-zero weight or sum), in increasing order.
    fn rows(&self) -> Vec<(u32, &[i128])> {
        let width = 1 + self.parts;
        let mut out = Vec::new();
        for (top, page) in self.pages.iter().enumerate() {
            let Some(page) = page else { continue };
            for (c, chunk) in page.chunks.iter().enumerate() {
                let Some(chunk) = chunk else { continue };
                for (r, row) in chunk.chunks_exact(width).enumerate() {
                    if row.iter().any(|&x| x != 0) {
                        let key = ((top << SUB_BITS) + c * CHUNK + r) as u32;
                        out.push((key, row));
                    }
                }
            }
        }
        out
    }

    /// Adds a path whose total is `total` (non-negative, finite) and whose
    /// parts are `parts`, with weight `w` (`wfx = fixed_weight(w)`).
    #[inline]
    pub fn add(&mut self, total: f64, parts: &[f64], w: f64, wfx: u128) {
        if total <= 0.0 {
            self.zero += wfx;
            return;
        }
        let row = self.row(Self::key(total));
        row[0] += wfx as i128;
        for (acc, &v) in row[1..].iter_mut().zip(parts) {
            *acc += fixed_value(w * v);
        }
    }

    /// Adds a batch of paths stored row by row (`width` figures per path):
    /// each path's total is figure `total` and its parts are the figures
    /// `parts`, with weight `weights[i]`. The same sums as [`Contributions::add`]
    /// path by path, but the bins of a block of paths are fetched together.
    pub fn add_rows(
        &mut self,
        rows: &[f64],
        width: usize,
        total: usize,
        parts: &[usize],
        weights: &[f64],
    ) {
        debug_assert_eq!(parts.len(), self.parts);
        for (block, ws) in rows.chunks(BLOCK * width).zip(weights.chunks(BLOCK)) {
            let mut found = [std::ptr::null_mut::<i128>(); BLOCK];
            for (slot, path) in found.iter_mut().zip(block.chunks_exact(width)) {
                let t = path[total];
                if t > 0.0 {
                    let row = self.row(Self::key(t));
                    prefetch(row.as_ptr());
                    prefetch(row.as_ptr().wrapping_add(row.len() - 1));
                    *slot = row.as_mut_ptr();
                }
            }
            for ((&row, path), &w) in found.iter().zip(block.chunks_exact(width)).zip(ws) {
                let wfx = fixed_weight(w);
                if row.is_null() {
                    self.zero += wfx;
                    continue;
                }
                // SAFETY: `row` points to the `1 + parts` numbers of a row
                // in a chunk, a boxed slice that is never moved, resized or
                // freed while `self` lives (finding later rows may add pages
                // and chunks, never touch existing chunks' storage), and no
                // other reference to it is alive here.
                let row = unsafe { std::slice::from_raw_parts_mut(row, 1 + self.parts) };
                row[0] += wfx as i128;
                for (acc, &p) in row[1..].iter_mut().zip(parts) {
                    *acc += fixed_value(w * path[p]);
                }
            }
        }
    }

    /// Adds another set of sums into this one, exactly.
    pub fn merge(&mut self, other: &Contributions) {
        self.zero += other.zero;
        for (key, src) in other.rows() {
            for (d, s) in self.row(key).iter_mut().zip(src) {
                *d += s;
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
        let mut out = vec![0.0; self.parts];
        let mut taken: u128 = 0;
        for (_, row) in self.rows().into_iter().rev() {
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
    fn saved_bins_come_in_key_order() {
        // The same paths added in two orders: the saved forms are the same
        // text, with the bins by ascending key.
        let totals: Vec<f64> = (1..200).map(|i| f64::from(i) * 1.37e6).collect();
        let mut a = Contributions::new(1);
        let mut b = Contributions::new(1);
        for &t in &totals {
            a.add(t, &[t], 1.0, ONE);
        }
        for &t in totals.iter().rev() {
            b.add(t, &[t], 1.0, ONE);
        }
        let (ta, tb) = (
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap(),
        );
        assert_eq!(ta, tb);
        // The keys as they appear in the text (`"key":[`).
        let bins = &ta[ta.find("\"bins\"").unwrap()..];
        let keys: Vec<u32> = bins
            .split("\":[")
            .filter_map(|s| s.rsplit('"').next()?.parse().ok())
            .collect();
        assert!(keys.len() > 10);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

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
