//! Exact summation of `f64` values.
//!
//! Floating-point addition is not associative, so a total that is built in a
//! different grouping (another thread count, another shard split) can differ
//! in its last bits. `ExactSum` adds every value exactly into a wide
//! fixed-point integer, so the state after adding a set of values is the same
//! whatever the order or grouping; only the final conversion to `f64` rounds,
//! and it is a deterministic function of that state.
//!
//! The accumulator covers bits from 2^-128 to 2^255. Bits of an addend below
//! 2^-128 are truncated (deterministically, per addend, so the grouping still
//! does not matter); magnitudes at or above 2^250 saturate a sticky overflow
//! flag, which the engine never reaches because inputs are bounded when the
//! scenario is validated.

use serde::{Deserialize, Serialize};

const LIMBS: usize = 6;
/// Bit position of 2^0 inside the accumulator.
const FRAC_BITS: i32 = 128;

/// An exact, order-independent sum of `f64` values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExactSum {
    /// Two's-complement fixed-point integer, least significant limb first.
    limbs: [u64; LIMBS],
    /// Set when an addend did not fit; the value is then meaningless.
    overflow: bool,
}

impl ExactSum {
    /// An empty sum (zero).
    pub const fn new() -> Self {
        Self {
            limbs: [0; LIMBS],
            overflow: false,
        }
    }

    /// Adds `x` exactly. Non-finite values set the overflow flag.
    pub fn add(&mut self, x: f64) {
        if x == 0.0 {
            return;
        }
        if !x.is_finite() {
            self.overflow = true;
            return;
        }
        let bits = x.to_bits();
        let negative = bits >> 63 == 1;
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1u64 << 52) - 1);
        let (mut mantissa, exponent) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1u64 << 52), biased - 1075)
        };
        // x = mantissa * 2^exponent; place the mantissa's lowest bit at `pos`.
        let mut pos = exponent + FRAC_BITS;
        if pos < 0 {
            let shift = -pos;
            mantissa = if shift >= 64 { 0 } else { mantissa >> shift };
            pos = 0;
        }
        if mantissa == 0 {
            return;
        }
        if pos + 53 >= (LIMBS as i32) * 64 - 6 {
            self.overflow = true;
            return;
        }
        let limb = (pos / 64) as usize;
        let wide = u128::from(mantissa) << (pos % 64);
        let lo = wide as u64;
        let hi = (wide >> 64) as u64;
        if negative {
            self.sub_at(limb, lo, hi);
        } else {
            self.add_at(limb, lo, hi);
        }
    }

    fn add_at(&mut self, limb: usize, lo: u64, hi: u64) {
        let (s, c1) = self.limbs[limb].overflowing_add(lo);
        self.limbs[limb] = s;
        let mut carry = u64::from(c1);
        let mut i = limb + 1;
        let mut addend = hi;
        while i < LIMBS && (carry != 0 || addend != 0) {
            let (s1, c1) = self.limbs[i].overflowing_add(addend);
            let (s2, c2) = s1.overflowing_add(carry);
            self.limbs[i] = s2;
            carry = u64::from(c1) + u64::from(c2);
            addend = 0;
            i += 1;
        }
    }

    fn sub_at(&mut self, limb: usize, lo: u64, hi: u64) {
        let (s, b1) = self.limbs[limb].overflowing_sub(lo);
        self.limbs[limb] = s;
        let mut borrow = u64::from(b1);
        let mut i = limb + 1;
        let mut subtrahend = hi;
        while i < LIMBS && (borrow != 0 || subtrahend != 0) {
            let (s1, b1) = self.limbs[i].overflowing_sub(subtrahend);
            let (s2, b2) = s1.overflowing_sub(borrow);
            self.limbs[i] = s2;
            borrow = u64::from(b1) + u64::from(b2);
            subtrahend = 0;
            i += 1;
        }
    }

    /// Adds another exact sum into this one (exactly).
    pub fn merge(&mut self, other: &ExactSum) {
        let mut carry = 0u64;
        for i in 0..LIMBS {
            let (s1, c1) = self.limbs[i].overflowing_add(other.limbs[i]);
            let (s2, c2) = s1.overflowing_add(carry);
            self.limbs[i] = s2;
            carry = u64::from(c1) + u64::from(c2);
        }
        self.overflow |= other.overflow;
    }

    /// Whether an addend did not fit (the value is then not meaningful).
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// The sum, rounded to `f64` (to within about one ulp).
    pub fn value(&self) -> f64 {
        if self.overflow {
            return f64::NAN;
        }
        let negative = self.limbs[LIMBS - 1] >> 63 == 1;
        let mut mag = self.limbs;
        if negative {
            // Two's-complement negation.
            let mut carry = 1u64;
            for limb in mag.iter_mut() {
                let (s, c) = (!*limb).overflowing_add(carry);
                *limb = s;
                carry = u64::from(c);
            }
        }
        let Some(top) = mag.iter().rposition(|&l| l != 0) else {
            return 0.0;
        };
        // Three limbs hold 192 bits, far more than the 53 an f64 keeps; sum
        // them from the smallest so each step adds a small correction.
        let mut v = 0.0f64;
        let low = top.saturating_sub(2);
        for (i, limb) in mag.iter().enumerate().take(top + 1).skip(low) {
            v += *limb as f64 * 2f64.powi(64 * i as i32 - FRAC_BITS);
        }
        if negative { -v } else { v }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_exactly_in_any_order() {
        let values = [
            1e16,
            1.0,
            -1e16,
            3.5e-20,
            7.25,
            -0.125,
            1e30,
            -1e30,
            2.0f64.powi(-100),
        ];
        let mut a = ExactSum::new();
        for v in values {
            a.add(v);
        }
        let mut b = ExactSum::new();
        for v in values.iter().rev() {
            b.add(*v);
        }
        assert_eq!(a, b);
        let want = 1.0 + 3.5e-20 + 7.25 - 0.125 + 2.0f64.powi(-100);
        assert_eq!(a.value(), want);
    }

    #[test]
    fn merge_equals_single_sum() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| ((i * 7919) % 1013) as f64 * 1.37e5 - 3e7)
            .collect();
        let mut whole = ExactSum::new();
        xs.iter().for_each(|&x| whole.add(x));
        let mut left = ExactSum::new();
        let mut right = ExactSum::new();
        xs[..333].iter().for_each(|&x| left.add(x));
        xs[333..].iter().for_each(|&x| right.add(x));
        right.merge(&left);
        assert_eq!(whole, right);
        let naive: f64 = xs.iter().sum();
        assert!((whole.value() - naive).abs() <= 1e-6 * naive.abs().max(1.0));
    }

    #[test]
    fn negative_totals_and_zero() {
        let mut s = ExactSum::new();
        s.add(-2.5);
        s.add(-0.5);
        assert_eq!(s.value(), -3.0);
        s.add(3.0);
        assert_eq!(s.value(), 0.0);
        assert_eq!(s, ExactSum::new());
    }

    #[test]
    fn non_finite_flags_overflow() {
        let mut s = ExactSum::new();
        s.add(f64::NAN);
        assert!(s.overflowed());
        assert!(s.value().is_nan());
    }
}
