//! Numerical building blocks: normal and Student-t distribution functions,
//! and an exact summation type that makes merged totals independent of how
//! the work was split.

pub mod exact;
pub mod normal;

pub use exact::ExactSum;
pub use normal::{norm_cdf, norm_inv, student_t_inv};

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
