//! A mergeable quantile sketch with a bounded relative error.
//!
//! Values are binned by the leading bits of their binary representation:
//! the sign, the 11 exponent bits and the top [`SUB_BITS`] mantissa bits.
//! Every bucket therefore spans a relative width below 2^-10 (0.098%), and
//! keeps its total weight and the smallest and largest value that fell in it.
//!
//! * A quantile is reported as the largest value of the bucket in which the
//!   weighted CDF reaches the level: it is never below the true sample
//!   quantile and exceeds it by less than 0.1% of its value. When every value
//!   in that bucket is equal (an atom, as with whole numbers of equal claims)
//!   the answer is exact.
//! * Expected shortfall takes whole buckets above the boundary and the
//!   boundary bucket fractionally (Acerbi and Tasche). Each bucket also keeps
//!   the exact (fixed-point) sum of its weighted values, so whole buckets
//!   count exactly; the boundary bucket counts at its mean, which is exact
//!   for an atom (tied paths count fractionally, as the definition asks) and
//!   within 0.1% of the boundary value otherwise.
//!
//! Weights are fixed-point integers (`1 << 64` is one path of weight 1), and
//! min and max merge exactly, so the sketch after a run does not depend on how
//! the paths were split between threads or shards. Memory grows with the
//! number of distinct buckets touched (at most 1,024 per factor of two in
//! value), never with the number of paths.

use serde::{Deserialize, Serialize};

use crate::math::prefetch;

/// Mantissa bits kept in a bucket key.
pub const SUB_BITS: u32 = 10;
/// Buckets per chunk: storage is allocated a chunk at a time, so memory
/// follows the values actually seen.
const CHUNK: usize = 64;
/// Chunks per factor of two.
const CHUNKS: usize = (1 << SUB_BITS) / CHUNK;

/// The documented bound on the relative error of a reported quantile.
pub const QUANTILE_RELATIVE_ERROR: f64 = 0.001;

/// Fixed-point weight of one path of weight 1.
pub const ONE: u128 = 1 << 64;

/// Scale of the fixed-point value sums: units of 2^-16 of a currency unit.
pub const SUM_SCALE: f64 = 65_536.0;

/// A weighted value `w v` in the fixed-point units of bucket sums. The
/// conversion is a deterministic function of `w v`, so sums of these merge
/// exactly in any order.
#[inline]
pub fn fixed_value(wv: f64) -> i128 {
    let x = wv * SUM_SCALE;
    // Same truncation either way; the i64 conversion is a single instruction.
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_cvttsd_si64, _mm_set_sd};
        // `cvttsd2si` truncates, and gives `i64::MIN` for NaN and for
        // values out of range, which then take the general conversion (as
        // does -2^63 itself, to the same result): no range test first.
        // SAFETY: SSE2 is part of every x86-64 processor (the target's
        // baseline).
        let t = unsafe { _mm_cvttsd_si64(_mm_set_sd(x)) };
        if t != i64::MIN {
            return i128::from(t);
        }
        x as i128
    }
    #[cfg(not(target_arch = "x86_64"))]
    if x.abs() < 9.2e18 {
        // SAFETY: `|x| < 9.2e18 < 2^63`, so `x` (not NaN, which fails the
        // comparison) truncates to an i64 in range.
        i128::from(unsafe { x.to_int_unchecked::<i64>() })
    } else {
        x as i128
    }
}

/// Converts a (likelihood-ratio) weight to the fixed-point form used in sketches.
#[inline]
pub fn fixed_weight(w: f64) -> u128 {
    if w == 1.0 {
        ONE
    } else {
        (w * ONE as f64) as u128
    }
}

/// The fixed-point sum of these weights ([`fixed_weight`] of each).
pub fn fixed_total(weights: &[f64]) -> u128 {
    Weights::new(weights).fixed_total()
}

/// The weights of a run of values, and whether every one is 1, found once:
/// a batch's weights go with the values of every figure.
#[derive(Clone, Copy, Debug)]
pub struct Weights<'a> {
    values: &'a [f64],
    unit: bool,
}

impl<'a> Weights<'a> {
    /// These weights.
    pub fn new(values: &'a [f64]) -> Self {
        Self {
            values,
            unit: values.iter().all(|&w| w == 1.0),
        }
    }

    /// Their fixed-point sum ([`fixed_weight`] of each).
    pub fn fixed_total(&self) -> u128 {
        if self.unit {
            self.values.len() as u128 * ONE
        } else {
            self.values.iter().map(|&w| fixed_weight(w)).sum()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Bucket {
    weight: u128,
    sum: i128,
    min: f64,
    max: f64,
}

const EMPTY: Bucket = Bucket {
    weight: 0,
    sum: 0,
    min: f64::INFINITY,
    max: f64::NEG_INFINITY,
};

type Chunk = Box<[Bucket; CHUNK]>;

/// Bits of a value below its chunk's key: the mantissa bits under the top
/// `SUB_BITS` and those of the bucket within the chunk.
const CHUNK_SHIFT: u32 = 52 - SUB_BITS + CHUNK.trailing_zeros();

/// The buckets of one sign: the chunk of key `base + i` at `chunks[i]`, a
/// chunk's key being the top 16 bits of its values' representation (sign,
/// exponent and the top 4 mantissa bits). One flat table per sign keeps a
/// look-up to one load, and the two signs apart keeps the table short (a
/// figure with both signs would otherwise span every exponent between).
#[derive(Clone, Debug, Default, PartialEq)]
struct Side {
    base: u32,
    chunks: Vec<Option<Chunk>>,
}

impl Side {
    /// The chunk of `key`, creating it (and widening the range) if need be.
    fn chunk(&mut self, key: u32) -> &mut Chunk {
        self.entry(key)
            .get_or_insert_with(|| Box::new([EMPTY; CHUNK]))
    }

    /// The table's entry for `key`, widening the range if need be.
    fn entry(&mut self, key: u32) -> &mut Option<Chunk> {
        if self.chunks.is_empty() {
            self.base = key;
        }
        if key < self.base {
            let grow = (self.base - key) as usize;
            self.chunks.splice(0..0, std::iter::repeat_n(None, grow));
            self.base = key;
        }
        let i = (key - self.base) as usize;
        if i >= self.chunks.len() {
            self.chunks.resize_with(i + 1, || None);
        }
        &mut self.chunks[i]
    }

    /// `(key, chunk)` of every chunk, in increasing order of key.
    fn keyed(&self) -> impl DoubleEndedIterator<Item = (u32, &Chunk)> {
        self.chunks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (self.base + i as u32, c)))
    }
}

/// A sketch as saved (shard and checkpoint files): its zeros, and the
/// touched buckets of each sign and exponent from the smallest seen (the
/// top 12 bits of the representation, `base`) up, with `None` for those
/// without any.
#[derive(Serialize, Deserialize)]
struct SavedSketch {
    zero: u128,
    base: u16,
    pages: Vec<Option<SparsePage>>,
}

/// One sign and exponent as saved: `(index, weight, sum, min, max)` of
/// every bucket that was touched, in index order (the index being the top
/// `SUB_BITS` mantissa bits).
#[derive(Serialize, Deserialize)]
struct SparsePage(Vec<(u16, u128, i128, f64, f64)>);

impl From<&Sketch> for SavedSketch {
    fn from(s: &Sketch) -> SavedSketch {
        let per_page = CHUNKS as u32;
        let keyed = || s.sides.iter().flat_map(|side| side.keyed());
        let tops = || keyed().map(|(key, _)| (key / per_page) as u16);
        let (Some(low), Some(high)) = (tops().min(), tops().max()) else {
            return SavedSketch {
                zero: s.zero,
                base: 0,
                pages: Vec::new(),
            };
        };
        let mut pages: Vec<Option<SparsePage>> = (low..=high).map(|_| None).collect();
        // Keys run in increasing order within each side, and so do the
        // buckets of a page.
        for (key, chunk) in keyed() {
            let top = (key / per_page) as u16;
            let first = (key % per_page) as usize * CHUNK;
            let page = pages[usize::from(top - low)].get_or_insert_with(|| SparsePage(Vec::new()));
            for (k, b) in chunk.iter().enumerate() {
                if *b != EMPTY {
                    page.0
                        .push(((first + k) as u16, b.weight, b.sum, b.min, b.max));
                }
            }
        }
        SavedSketch {
            zero: s.zero,
            base: low,
            pages,
        }
    }
}

impl Serialize for Sketch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SavedSketch::from(self).serialize(serializer)
    }
}

impl From<SavedSketch> for Sketch {
    fn from(saved: SavedSketch) -> Sketch {
        let mut s = Sketch {
            zero: saved.zero,
            ..Sketch::default()
        };
        for (k, page) in saved.pages.into_iter().enumerate() {
            let Some(page) = page else { continue };
            let top = u32::from(saved.base) + k as u32;
            for (i, weight, sum, min, max) in page.0 {
                let i = usize::from(i) % (CHUNK * CHUNKS);
                let key = top * CHUNKS as u32 + (i / CHUNK) as u32;
                s.sides[(top >> 11) as usize & 1].chunk(key)[i % CHUNK] = Bucket {
                    weight,
                    sum,
                    min,
                    max,
                };
            }
        }
        s
    }
}

/// Values waiting to go into the buckets, by default. Inserting a value
/// touches one bucket out of thousands; doing it for one figure many values
/// at a time keeps that figure's buckets in cache, where inserting path by
/// path across dozens of figures would miss it every time. Buckets do not
/// depend on insertion order, so deferring changes nothing in the result.
/// (On plan-2017, 65,536 values at a time spend 15% less time accumulating
/// than 16,384, and 4,096 spend more: a figure's buckets are fetched once
/// for more values.)
pub const DEFER: usize = 65_536;

/// Values whose buckets are fetched together when deferred values settle.
const BLOCK: usize = 32;

/// A mergeable weighted quantile sketch (see the module documentation).
/// Saved in its sparse form (`SavedSketch`), made from a reference (no copy of the
/// buckets first).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(from = "SavedSketch")]
pub struct Sketch {
    zero: u128,
    /// The buckets of positive values, then of negative ones.
    sides: [Side; 2],
    /// Values not yet in the buckets (see [`Sketch::settle`]).
    pending: Vec<f64>,
    /// Their weights, when any differs from 1 (else empty).
    pending_weights: Vec<f64>,
    /// How many values may wait before they are settled.
    defer: usize,
}

/// One non-empty bucket, as seen by queries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bin {
    /// Total fixed-point weight of the values in the bucket.
    pub weight: u128,
    /// Fixed-point sum of the weighted values (see [`fixed_value`]).
    pub sum: i128,
    /// Smallest value in the bucket.
    pub min: f64,
    /// Largest value in the bucket.
    pub max: f64,
}

impl Bin {
    /// The weighted sum of the bucket's values.
    pub fn value_sum(&self) -> f64 {
        self.sum as f64 / SUM_SCALE
    }
}

/// The smaller of a bucket's least value `m` and a finite, non-zero `v`,
/// without a branch (a bucket's least and greatest values change at
/// random, and a branch on them is often mispredicted). Values are never
/// NaN and never zero here, so this equals `if v < m { v } else { m }` in
/// every case.
#[inline(always)]
fn lower(m: f64, v: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_cvtsd_f64, _mm_min_sd, _mm_set_sd};
        // SAFETY: SSE2 is part of every x86-64 processor. `minsd` gives
        // its first operand when it is less than the second, else the
        // second.
        unsafe { _mm_cvtsd_f64(_mm_min_sd(_mm_set_sd(m), _mm_set_sd(v))) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        if m < v { m } else { v }
    }
}

/// The larger of a bucket's greatest value `m` and `v` (see [`lower`]).
#[inline(always)]
fn upper(m: f64, v: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_cvtsd_f64, _mm_max_sd, _mm_set_sd};
        // SAFETY: as in `lower`; `maxsd` gives its first operand when it is
        // greater than the second, else the second.
        unsafe { _mm_cvtsd_f64(_mm_max_sd(_mm_set_sd(m), _mm_set_sd(v))) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        if m > v { m } else { v }
    }
}

impl Sketch {
    /// An empty sketch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty sketch that lets up to `defer` values wait (memory per
    /// figure; a run with many figures uses less).
    pub fn with_defer(defer: usize) -> Self {
        Self {
            defer,
            ..Self::default()
        }
    }

    /// Adds value `v` with weight `w` (`wfx = fixed_weight(w)`) at once.
    /// `v` must be finite.
    #[inline]
    pub fn insert(&mut self, v: f64, w: f64, wfx: u128) {
        self.put(v, w, wfx);
    }

    /// The bucket of a non-zero finite `v`, creating its chunk if need be.
    #[inline(always)]
    fn bucket(&mut self, v: f64) -> *mut Bucket {
        debug_assert!(v.is_finite() && v != 0.0);
        let bits = v.to_bits();
        // Negative values are rare: a branch, not an index computed from
        // the sign.
        let [positive, negative] = &mut self.sides;
        let side = if (bits as i64) < 0 {
            negative
        } else {
            positive
        };
        let key = (bits >> CHUNK_SHIFT) as u32;
        let at = ((bits >> (52 - SUB_BITS)) as usize) % CHUNK;
        if let Some(Some(chunk)) = side.chunks.get_mut(key.wrapping_sub(side.base) as usize) {
            return &mut chunk[at];
        }
        Self::make_room(side, key, at)
    }

    /// Creates the chunk of `key` and returns its bucket `at` (the rare
    /// path of [`Sketch::bucket`]).
    #[cold]
    #[inline(never)]
    fn make_room(side: &mut Side, key: u32, at: usize) -> *mut Bucket {
        &mut side.chunk(key)[at]
    }

    #[inline(always)]
    fn put(&mut self, v: f64, w: f64, wfx: u128) {
        if v == 0.0 {
            self.zero += wfx;
            return;
        }
        // SAFETY: `bucket` points into a live chunk, and nothing else
        // refers to it here.
        Self::update(unsafe { &mut *self.bucket(v) }, v, w, wfx);
    }

    #[inline(always)]
    fn update(b: &mut Bucket, v: f64, w: f64, wfx: u128) {
        b.weight += wfx;
        b.sum += fixed_value(w * v);
        b.min = lower(b.min, v);
        b.max = upper(b.max, v);
    }

    /// Puts a block of values (at most [`BLOCK`]) into their buckets: first
    /// finds every bucket and asks the processor to fetch it, then updates
    /// them, so that the fetches overlap instead of stalling one by one.
    /// `weights` is `None` when every weight is 1 (plain sampling: the
    /// weighted value is the value, and the fixed-point weight is [`ONE`]).
    fn put_block(&mut self, values: &[f64], weights: Option<&[f64]>) {
        debug_assert!(values.len() <= BLOCK);
        let mut buckets = [std::ptr::null_mut::<Bucket>(); BLOCK];
        let mut zeros = 0u32;
        for (slot, &v) in buckets.iter_mut().zip(values) {
            if v != 0.0 {
                let b = self.bucket(v);
                prefetch(b);
                *slot = b;
            } else {
                zeros += 1;
            }
        }
        match weights {
            None => {
                self.zero += u128::from(zeros) * ONE;
                for (&b, &v) in buckets.iter().zip(values) {
                    if !b.is_null() {
                        // SAFETY: as below. (`1.0 * v` is `v` exactly.)
                        Self::update(unsafe { &mut *b }, v, 1.0, ONE);
                    }
                }
            }
            Some(weights) => {
                for ((&b, &v), &w) in buckets.iter().zip(values).zip(weights) {
                    let wfx = fixed_weight(w);
                    if b.is_null() {
                        self.zero += wfx;
                    } else {
                        // SAFETY: `b` points into a chunk, a boxed array
                        // that is never moved, resized or freed while the
                        // sketch lives (finding later buckets may add chunks
                        // and may move the boxes within a side's table as
                        // it grows, but never the chunks' own storage), and
                        // no other reference to that bucket is alive here.
                        Self::update(unsafe { &mut *b }, v, w, wfx);
                    }
                }
            }
        }
    }

    /// Adds values with weights (`weights[i]` goes with `values[i]`),
    /// deferring the bucket updates (see [`Sketch::settle`]).
    pub fn extend(&mut self, values: &[f64], weights: &[f64]) {
        self.extend_with(Weights::new(weights), |pending| {
            pending.extend_from_slice(values)
        });
    }

    /// Like [`Sketch::extend`], with the values appended by `fill` straight
    /// into the waiting list (no copy through a buffer of their own); one
    /// value per weight. Values that are all zeros only count as zeros.
    #[inline]
    pub fn extend_with(&mut self, weights: Weights, fill: impl FnOnce(&mut Vec<f64>)) {
        let start = self.pending.len();
        fill(&mut self.pending);
        debug_assert_eq!(self.pending.len() - start, weights.values.len());
        if self.pending[start..].iter().all(|&v| v == 0.0) {
            self.pending.truncate(start);
            self.zero += weights.fixed_total();
            return;
        }
        if !weights.unit && self.pending_weights.len() < start {
            self.pending_weights.resize(start, 1.0);
        }
        if !weights.unit || !self.pending_weights.is_empty() {
            self.pending_weights.extend_from_slice(weights.values);
        }
        if self.pending.len() >= if self.defer == 0 { DEFER } else { self.defer } {
            self.settle();
        }
    }

    /// Adds zeros with these weights.
    pub fn add_zeros(&mut self, weights: &[f64]) {
        self.zero += fixed_total(weights);
    }

    /// Adds zeros of total fixed-point weight `w`.
    pub fn add_zero_weight(&mut self, w: u128) {
        self.zero += w;
    }

    /// Puts every deferred value into its bucket. Queries and merges need a
    /// settled sketch.
    pub fn settle(&mut self) {
        let values = std::mem::take(&mut self.pending);
        let weights = std::mem::take(&mut self.pending_weights);
        if weights.is_empty() {
            for block in values.chunks(BLOCK) {
                self.put_block(block, None);
            }
        } else {
            for (block, w) in values.chunks(BLOCK).zip(weights.chunks(BLOCK)) {
                self.put_block(block, Some(w));
            }
        }
        // Keep the allocations for the next values.
        self.pending = values;
        self.pending.clear();
        self.pending_weights = weights;
        self.pending_weights.clear();
    }

    /// Adds another sketch into this one, exactly (settling this one; the
    /// other must be settled).
    pub fn merge(&mut self, other: &Sketch) {
        self.settle();
        assert!(
            other.pending.is_empty(),
            "merging an unsettled sketch would drop values"
        );
        self.zero += other.zero;
        for (dst, src) in self.sides.iter_mut().zip(&other.sides) {
            for (key, s) in src.keyed() {
                let entry = dst.entry(key);
                match entry {
                    None => *entry = Some(s.clone()),
                    Some(d) => {
                        for (d, s) in d.iter_mut().zip(s.iter()) {
                            d.weight += s.weight;
                            d.sum += s.sum;
                            d.min = d.min.min(s.min);
                            d.max = d.max.max(s.max);
                        }
                    }
                }
            }
        }
    }

    /// [`Sketch::merge`] taking the other sketch by value: the one with the
    /// longer tables keeps its chunks and the other is added into it, so
    /// that merging into an empty sketch moves the chunks instead of
    /// copying them. The same result, bucket for bucket and in the same
    /// form: buckets add and take least and greatest values exactly, in
    /// either order, and a side's table always runs from its lowest chunk
    /// to its highest. This sketch keeps its own `defer`.
    pub fn merge_owned(&mut self, mut other: Sketch) {
        self.settle();
        assert!(
            other.pending.is_empty(),
            "merging an unsettled sketch would drop values"
        );
        let len = |s: &Sketch| s.sides.iter().map(|d| d.chunks.len()).sum::<usize>();
        if len(&other) > len(self) {
            std::mem::swap(&mut self.sides, &mut other.sides);
        }
        self.merge(&other);
    }

    /// Total fixed-point weight in the sketch.
    pub fn total_weight(&self) -> u128 {
        self.bins().iter().map(|b| b.weight).sum()
    }

    /// The non-empty buckets in increasing order of value (the sketch must
    /// be settled).
    pub fn bins(&self) -> Vec<Bin> {
        debug_assert!(self.pending.is_empty(), "query of an unsettled sketch");
        let bin = |b: &Bucket| Bin {
            weight: b.weight,
            sum: b.sum,
            min: b.min,
            max: b.max,
        };
        let mut out = Vec::new();
        // Negative values: the largest magnitudes are the smallest values.
        for (_, chunk) in self.sides[1].keyed().rev() {
            out.extend(chunk.iter().rev().filter(|b| b.weight > 0).map(bin));
        }
        if self.zero > 0 {
            out.push(Bin {
                weight: self.zero,
                sum: 0,
                min: 0.0,
                max: 0.0,
            });
        }
        for (_, chunk) in self.sides[0].keyed() {
            out.extend(chunk.iter().filter(|b| b.weight > 0).map(bin));
        }
        out
    }

    /// The weight of the values above `x`, as a fraction of `total` (see
    /// [`Sketch::quantile`]): whole buckets above `x`, and the bucket holding
    /// `x` in proportion to the part of its range above `x` (so the answer
    /// is exact up to the bucket width, 0.1% of `x`).
    pub fn fraction_above(&self, x: f64, total: u128) -> f64 {
        if total == 0 {
            return 0.0;
        }
        let mut above = 0.0;
        for b in self.bins() {
            if b.min > x {
                above += b.weight as f64;
            } else if b.max > x {
                above += b.weight as f64 * (b.max - x) / (b.max - b.min);
            }
        }
        above / total as f64
    }

    /// The `num/den` quantile: the smallest value whose weighted CDF reaches
    /// `num/den`. The CDF is read from the tail the level lies in: for levels
    /// of 1/2 and above, the CDF of `x` is `1 - (weight above x) / total`;
    /// below 1/2, `(weight at or below x) / total`.
    ///
    /// `total` is the normaliser: the sum of all weights for plain sampling
    /// (where the two readings agree exactly), or the number of paths times
    /// [`ONE`] for importance sampling, whose weights then estimate each tail
    /// without bias (their sum is itself only an estimate of `total`).
    /// `None` when the sketch is empty.
    pub fn quantile(&self, num: u128, den: u128, total: u128) -> Option<f64> {
        Self::quantile_of(&self.bins(), num, den, total)
    }

    /// [`Sketch::quantile`] from the sketch's [`Sketch::bins`], so that
    /// several queries share one listing of the buckets.
    pub fn quantile_of(bins: &[Bin], num: u128, den: u128, total: u128) -> Option<f64> {
        let first = bins.first()?;
        if 2 * num < den {
            // Weight needed at or below the answer: num/den * total.
            let need = num.checked_mul(total)?;
            let mut below: u128 = 0;
            for b in bins {
                below += b.weight;
                if below.checked_mul(den)? >= need {
                    return Some(b.max);
                }
            }
            return Some(bins.last()?.max);
        }
        // Allowed weight strictly above the answer: (1 - num/den) * total.
        let tail = (den - num).checked_mul(total)?;
        let mut above: u128 = 0;
        for b in bins.iter().rev() {
            let with = above + b.weight;
            if with.checked_mul(den)? > tail {
                return Some(b.max);
            }
            above = with;
        }
        Some(first.min)
    }

    /// Expected shortfall at level `num/den`: the weighted mean of the worst
    /// `1 - num/den` share of `total`, the boundary bucket taken fractionally.
    /// When the sketch holds less weight than that share (possible under
    /// importance sampling), the missing weight counts at the smallest value.
    pub fn expected_shortfall(&self, num: u128, den: u128, total: u128) -> Option<f64> {
        Self::expected_shortfall_of(&self.bins(), num, den, total)
    }

    /// [`Sketch::expected_shortfall`] from the sketch's [`Sketch::bins`].
    pub fn expected_shortfall_of(bins: &[Bin], num: u128, den: u128, total: u128) -> Option<f64> {
        let first = bins.first()?;
        let need = (den - num).checked_mul(total)?;
        if need == 0 {
            return Some(bins.last()?.max);
        }
        let tail_paths = need as f64 / (den as f64 * ONE as f64);
        let mut taken: u128 = 0;
        let mut sum = 0.0f64;
        for b in bins.iter().rev() {
            let w = b.weight.checked_mul(den)?;
            let take = w.min(need - taken);
            sum += if take == w {
                b.value_sum()
            } else {
                b.value_sum() * (take as f64 / w as f64)
            };
            taken += take;
            if taken == need {
                break;
            }
        }
        if taken < need {
            sum += (need - taken) as f64 / (den as f64 * ONE as f64) * first.min;
        }
        Some(sum / tail_paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch_of(values: &[f64]) -> Sketch {
        let mut s = Sketch::new();
        for &v in values {
            s.insert(v, 1.0, ONE);
        }
        s
    }

    /// Exact sample quantile: smallest x with #(values <= x) >= q n.
    fn exact_quantile(values: &[f64], num: usize, den: usize) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let k = (num * n).div_ceil(den).max(1);
        v[k - 1]
    }

    /// With weights that add up to `total` (plain sampling), reading a level
    /// from below or from above gives the same quantile: the lower-tail rule
    /// changes nothing there.
    #[test]
    fn both_tails_agree_when_weights_add_up() {
        let values: Vec<f64> = (0..2000)
            .map(|i| ((i * 7919) % 1000) as f64 * 1.3 + 0.5)
            .collect();
        let s = sketch_of(&values);
        let total = s.total_weight();
        let bins = s.bins();
        for num in 1..1000u128 {
            let lower = Sketch::quantile_of(&bins, num, 1000, total);
            // The upper-tail reading, as levels of 1/2 and above use it.
            let tail = (1000 - num) * total;
            let mut above = 0u128;
            let mut upper = bins[0].min;
            for b in bins.iter().rev() {
                if (above + b.weight) * 1000 > tail {
                    upper = b.max;
                    break;
                }
                above += b.weight;
            }
            assert_eq!(lower, Some(upper), "level {num}/1000");
        }
    }

    /// Under importance sampling the weights' sum only estimates `total`;
    /// a low quantile is read from the weight below it, not from what is
    /// left after the weight above (which the estimate's noise would throw
    /// to the smallest value).
    #[test]
    fn low_quantiles_read_the_lower_tail() {
        let s = sketch_of(&(1..=100).map(f64::from).collect::<Vec<_>>());
        // As if the paths' weights added up to 100 of 110 paths.
        let total = 110 * ONE;
        assert_eq!(s.quantile(5, 100, total), Some(6.0));
        assert_eq!(s.quantile(95, 100, total), Some(95.0));
    }

    #[test]
    fn atoms_give_exact_quantiles() {
        // 1000 values on 7 atoms, as whole numbers of equal claims would be.
        let values: Vec<f64> = (0..1000).map(|i| ((i * 37) % 7) as f64 * 1.5e6).collect();
        let s = sketch_of(&values);
        let total = s.total_weight();
        for (num, den) in [(1, 2), (9, 10), (95, 100), (99, 100), (999, 1000)] {
            let got = s.quantile(num, den, total).unwrap();
            assert_eq!(got, exact_quantile(&values, num as usize, den as usize));
        }
    }

    #[test]
    fn continuous_values_within_documented_error() {
        let values: Vec<f64> = (1..=10_000)
            .map(|i| (i as f64 * 0.618_033_988_75).fract() * 1e9 + 1.0)
            .collect();
        let s = sketch_of(&values);
        let total = s.total_weight();
        for (num, den) in [(1, 2), (9, 10), (99, 100), (999, 1000)] {
            let got = s.quantile(num, den, total).unwrap();
            let want = exact_quantile(&values, num as usize, den as usize);
            assert!(
                got >= want && got <= want * (1.0 + QUANTILE_RELATIVE_ERROR),
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn expected_shortfall_counts_the_boundary_fractionally() {
        // 10 paths: values 1..=10. ES at 85%: worst 1.5 paths = (10 + 0.5*9)/1.5.
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = sketch_of(&values);
        let total = s.total_weight();
        let es = s.expected_shortfall(85, 100, total).unwrap();
        assert!((es - (10.0 + 0.5 * 9.0) / 1.5).abs() < 1e-12);
        // Ties: every path equal gives that value at every level.
        let s = sketch_of(&[4.0; 17]);
        assert_eq!(s.expected_shortfall(99, 100, s.total_weight()), Some(4.0));
    }

    #[test]
    fn merge_is_split_independent() {
        let values: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 4999) as f64 * 1234.5 - 1e6)
            .collect();
        let whole = sketch_of(&values);
        let mut a = sketch_of(&values[..1234]);
        let b = sketch_of(&values[1234..]);
        a.merge(&b);
        assert_eq!(a, whole);
    }

    /// Merging by value gives the sketch merging by reference gives, in
    /// the same form, whichever side has more chunks and with empty sides
    /// (the chunks of the larger are kept, the smaller added in).
    #[test]
    fn merge_owned_is_merge() {
        let values: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 4999) as f64 * 1234.5 - 1e6)
            .map(|v| if v < -9e5 { 0.0 } else { v })
            .collect();
        let whole = sketch_of(&values);
        for split in [0, 3, 1234, 4990, 5000] {
            let (left, right) = (sketch_of(&values[..split]), sketch_of(&values[split..]));
            let mut by_ref = left.clone();
            by_ref.merge(&right);
            let mut by_value = left.clone();
            by_value.merge_owned(right.clone());
            assert_eq!(by_value, by_ref, "split at {split}");
            assert_eq!(by_value, whole, "split at {split}");
            let mut other_way = right;
            other_way.merge_owned(left);
            assert_eq!(other_way, whole, "split at {split}, reversed");
        }
        let mut into_empty = Sketch::with_defer(7);
        into_empty.merge_owned(whole.clone());
        assert_eq!(into_empty.bins(), whole.bins());
        assert_eq!(into_empty.defer, 7, "the sketch keeps its own defer");
    }

    #[test]
    fn negative_and_zero_values_are_ordered() {
        let values = [-5.0, -1.0, 0.0, 0.0, 2.0, 3.0];
        let s = sketch_of(&values);
        let bins = s.bins();
        let mins: Vec<f64> = bins.iter().map(|b| b.min).collect();
        assert_eq!(mins, vec![-5.0, -1.0, 0.0, 2.0, 3.0]);
        assert_eq!(s.quantile(1, 2, s.total_weight()), Some(0.0));
    }

    /// A sketch saved and loaded again is the same sketch, values of both
    /// signs and zeros included; the saved form lists each sign and
    /// exponent from the smallest seen, with its touched buckets by index.
    #[test]
    fn saved_form_round_trips() {
        let values = [-3.0e9, -5.0, -1.0, 0.0, 0.0, 2.0, 3.0, 3.0, 1.5e-3, 7.25e8];
        let mut s = sketch_of(&values);
        s.insert(-5.0, 0.5, fixed_weight(0.5));
        let text = serde_json::to_string(&s).expect("serialise");
        let back: Sketch = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(back, s);
        assert_eq!(back.bins(), s.bins());
        let saved: serde_json::Value = serde_json::from_str(&text).expect("json");
        // 1.5e-3 is the smallest magnitude: its sign and exponent is the base.
        assert_eq!(saved["base"], u64::from((1.5e-3f64.to_bits() >> 52) as u16));
        let pages = saved["pages"].as_array().expect("pages");
        let top = |v: f64| (v.to_bits() >> 52) as usize - (1.5e-3f64.to_bits() >> 52) as usize;
        assert_eq!(pages.len(), top(-3.0e9) + 1);
        // 2.0 and 3.0 share an exponent: 2.0 first (index 0), then 3.0
        // twice in one bucket, its index the top 10 mantissa bits.
        let page = pages[top(3.0)].as_array().expect("page of 2 and 3");
        assert_eq!(page.len(), 2);
        assert_eq!(page[0][0], 0);
        assert_eq!(page[1][0], (3.0f64.to_bits() >> 42) & 1023);
        assert_eq!(page[1][1].as_f64(), Some(2.0 * ONE as f64));
        assert_eq!((&page[1][3], &page[1][4]), (&3.0.into(), &3.0.into()));
        // No value between 7.25e8 (2^29) and 3e9 (2^31) in size: no page.
        assert!(pages[top(7.25e8) + 1].is_null());
        // An empty sketch saves and loads too.
        let empty: Sketch =
            serde_json::from_str(&serde_json::to_string(&Sketch::new()).expect("s")).expect("d");
        assert_eq!(empty, Sketch::new());
    }

    /// `lower` and `upper` equal the comparisons they replace, for values of
    /// both signs, subnormal, infinite and equal ones.
    #[test]
    fn lower_and_upper_are_the_branches_they_replace() {
        let values = [
            -1e300,
            -2.5,
            -f64::MIN_POSITIVE,
            -4.9e-324,
            4.9e-324,
            f64::MIN_POSITIVE,
            1.0,
            1.0 + f64::EPSILON,
            3e9,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for &m in &values {
            for &v in &values {
                let (lo, up) = (lower(m, v), upper(m, v));
                assert_eq!(
                    lo.to_bits(),
                    (if v < m { v } else { m }).to_bits(),
                    "{m} {v}"
                );
                assert_eq!(
                    up.to_bits(),
                    (if v > m { v } else { m }).to_bits(),
                    "{m} {v}"
                );
            }
        }
    }

    /// The fast conversion agrees with the general one everywhere: in
    /// range, at the edges of i64 (-2^63 itself included) and beyond.
    #[test]
    fn fixed_values_truncate_like_the_general_conversion() {
        let edge = 2f64.powi(63) / SUM_SCALE;
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.5e-5,
            -1.5e-5,
            1e10,
            -3.7e12,
            1e20,
            -1e20,
            edge,
            -edge,
            edge.next_down(),
            (-edge).next_up(),
            edge.next_up(),
            (-edge).next_down(),
            f64::MAX,
            f64::MIN,
        ];
        let mut x = 1.234_567e-6;
        while x < 1e30 {
            values.extend([x, -x]);
            x *= 1.37;
        }
        for v in values {
            assert_eq!(fixed_value(v), (v * SUM_SCALE) as i128, "{v}");
        }
        assert_eq!(fixed_value(-edge), -(1i128 << 63));
    }
}
