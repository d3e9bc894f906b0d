//! Numerical building blocks: normal and Student-t distribution functions,
//! and an exact summation type that makes merged totals independent of how
//! the work was split.

pub mod exact;
pub mod normal;

pub use exact::ExactSum;
pub use normal::{norm_cdf, norm_inv, student_t_inv};

/// `b`, hidden from the optimiser: a condition built from several tests
/// (`a | b`) and passed through here stays one branch, instead of being
/// split back into one branch per test (which, when the tests' outcomes
/// are random, mispredicts more often). Changes no result.
#[inline(always)]
pub fn one_branch(b: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let mut v = u8::from(b);
        // SAFETY: an empty instruction sequence that claims to change a
        // byte register: it reads and writes nothing else.
        unsafe {
            std::arch::asm!("/* {0} */", inout(reg_byte) v, options(pure, nomem, nostack, preserves_flags));
        }
        v != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    b
}

/// Asks the processor to bring the cache line at `p` closer (a hint: it
/// never faults and changes no result).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it does not dereference `p`.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::one_branch;

    #[test]
    fn one_branch_passes_the_value_through() {
        assert!(one_branch(true));
        assert!(!one_branch(false));
        // Built from tests, as the sampler uses it.
        for h in [0u16, 1, 99, 100, 199, 200, u16::MAX] {
            let (keep, low, high) = (100, 150, 200);
            let either = (h < keep) | ((h >= low) & (h < high));
            assert_eq!(one_branch(either), h < 100 || (150..200).contains(&h));
        }
    }
}
